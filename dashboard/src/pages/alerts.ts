// Live alerts: newest first, filters (priority, rule, container), "older" paging via `before`,
// new alerts prepended from the stream (deduplicated by id), a detail pane with the alert's
// fields and its process tree (GET /api/alerts/{id}).
import { api } from '../api';
import {
  h, clear, table, tableRow, empty, loading, badge, fmtTime, fmtShortTime, fmtValue, containerLabel, mono,
  priorityClass, priorityLevel, PRIORITY_NAMES, type Column,
} from '../dom';
import { onAlert } from '../stream';
import { showError } from '../ui';
import type { Alert, Container, Page, Rules, TreeProcess } from '../types';
import type { PageModule } from '../main';

interface Filters {
  priority: string;
  rule: string;
  container: string;
}

const PAGE_SIZE = 100;

class AlertsView {
  private items: Alert[] = [];
  private ids = new Set<number>();
  private nextBefore: number | null = null;
  private filters: Filters = { priority: '', rule: '', container: '' };
  private selected: number | undefined;
  private generation = 0;
  private unsubscribe: (() => void) | null = null;

  private root!: HTMLElement;
  private listEl!: HTMLElement;
  private detailEl!: HTMLElement;
  private moreButton!: HTMLButtonElement;
  private countEl!: HTMLElement;
  private tbody: HTMLTableSectionElement | null = null;

  private readonly columns: Column<Alert>[] = [
    { label: 'Time', cell: (a) => h('time', { datetime: a.time, title: fmtTime(a.time) }, fmtShortTime(a.time)), class: 'nowrap' },
    { label: 'Priority', cell: (a) => badge(a.priority) },
    { label: 'Rule', cell: (a) => h('span', { class: 'rule-name' }, a.rule) },
    { label: 'Container', cell: (a) => h('span', { title: containerLabel(a.container) }, a.container?.id && a.container.id !== 'host' ? (a.container.name || a.container.id) : 'host'), class: 'nowrap' },
    { label: 'Output', cell: (a) => h('span', { class: 'output' }, a.output ?? ''), class: 'wide col-output' },
  ];

  mount(root: HTMLElement, arg: string | undefined): void {
    this.root = root;
    this.filters = readFilters();
    const prio = h('select', { name: 'priority', 'data-testid': 'filter-priority' },
      h('option', { value: '' }, 'any priority'),
      PRIORITY_NAMES.map((p) => h('option', { value: p.toLowerCase() }, `≥ ${p}`)));
    prio.value = this.filters.priority;
    const rule = h('input', { name: 'rule', list: 'rule-names', placeholder: 'rule name', 'data-testid': 'filter-rule' });
    rule.value = this.filters.rule;
    const ruleList = h('datalist', { id: 'rule-names' });
    const cont = h('select', { name: 'container', 'data-testid': 'filter-container' },
      h('option', { value: '' }, 'any container'), h('option', { value: 'host' }, 'host'));
    if (this.filters.container && this.filters.container !== 'host') {
      cont.append(h('option', { value: this.filters.container }, this.filters.container));
    }
    cont.value = this.filters.container;
    const apply = () => {
      this.filters = { priority: prio.value, rule: rule.value.trim(), container: cont.value };
      writeFilters(this.filters);
      void this.reload();
    };
    prio.addEventListener('change', apply);
    cont.addEventListener('change', apply);
    rule.addEventListener('change', apply);
    const form = h('form', { class: 'filters', role: 'search' },
      h('label', null, h('span', null, 'Priority'), prio),
      h('label', null, h('span', null, 'Rule'), rule, ruleList),
      h('label', null, h('span', null, 'Container'), cont),
      h('button', { type: 'button', class: 'ghost', onclick: () => {
        prio.value = ''; rule.value = ''; cont.value = ''; apply();
      } }, 'Clear'));
    form.addEventListener('submit', (ev) => { ev.preventDefault(); apply(); });

    this.countEl = h('span', { class: 'muted' });
    this.listEl = h('div', { class: 'alert-list', 'data-testid': 'alert-list' });
    this.moreButton = h('button', { type: 'button', class: 'more', 'data-testid': 'older' }, 'Older alerts');
    this.moreButton.hidden = true;
    this.moreButton.addEventListener('click', () => void this.loadPage(false));
    this.detailEl = h('aside', { class: 'detail', 'data-testid': 'alert-detail' });

    root.append(
      h('div', { class: 'page-head' }, h('h1', null, 'Live alerts'), this.countEl),
      form,
      h('div', { class: 'split' },
        h('section', { class: 'list-pane' }, this.listEl, this.moreButton),
        this.detailEl),
    );

    this.unsubscribe = onAlert((a) => this.live(a));
    void this.fillFilterOptions(ruleList, cont);
    void this.reload();
    this.select(arg);
  }

  update(arg: string | undefined): void {
    this.select(arg);
  }

  unmount(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.generation++;
  }

  private async fillFilterOptions(ruleList: HTMLDataListElement, cont: HTMLSelectElement): Promise<void> {
    const [rules, containers] = await Promise.allSettled([
      api<Rules>('/api/rules'),
      api<Page<Container>>('/api/containers'),
    ]);
    if (rules.status === 'fulfilled') {
      for (const r of rules.value.loaded ?? []) ruleList.append(h('option', { value: r.name }));
    }
    if (containers.status === 'fulfilled') {
      const have = new Set(Array.from(cont.options).map((o) => o.value));
      for (const c of containers.value.items) {
        if (have.has(c.id)) continue;
        cont.append(h('option', { value: c.id }, containerLabel(c)));
      }
      cont.value = this.filters.container;
    }
    // Failures here are shown by the list itself; these only fill the pickers.
  }

  private async reload(): Promise<void> {
    this.items = [];
    this.ids.clear();
    this.nextBefore = null;
    this.tbody = null;
    clear(this.listEl);
    this.listEl.append(loading());
    await this.loadPage(true);
  }

  private async loadPage(first: boolean): Promise<void> {
    const gen = ++this.generation;
    this.moreButton.disabled = true;
    try {
      const page = await api<Page<Alert>>('/api/alerts', {
        limit: PAGE_SIZE,
        before: first ? null : this.nextBefore,
        priority: this.filters.priority,
        rule: this.filters.rule,
        container: this.filters.container,
      });
      if (gen !== this.generation) return;
      const fresh = page.items.filter((a) => !this.ids.has(a.id));
      for (const a of fresh) this.ids.add(a.id);
      this.items.push(...fresh);
      this.nextBefore = page.next_before ?? null;
      this.render(fresh, 'append');
    } catch (err) {
      if (gen !== this.generation) return;
      if (first) {
        clear(this.listEl);
        this.listEl.append(empty('Alerts could not be loaded.'));
      }
      showError(err);
    } finally {
      if (gen === this.generation) {
        this.moreButton.disabled = false;
        this.moreButton.hidden = this.nextBefore === null;
      }
    }
  }

  private matches(a: Alert): boolean {
    const f = this.filters;
    if (f.priority && (a.priority_level ?? priorityLevel(a.priority)) > priorityLevel(f.priority)) return false;
    if (f.rule && a.rule !== f.rule) return false;
    if (f.container) {
      const id = a.container?.id || 'host';
      if (id !== f.container) return false;
    }
    return true;
  }

  private live(a: Alert): void {
    if (this.ids.has(a.id) || !this.matches(a)) return;
    // Older than everything shown while older pages exist: "Older alerts" will bring it.
    const oldest = this.items[this.items.length - 1];
    if (oldest && a.id < oldest.id && this.nextBefore !== null) return;
    this.ids.add(a.id);
    this.items.unshift(a);
    this.items.sort((x, y) => y.id - x.id);
    this.render([a], 'live');
  }

  private rowAttrs = (a: Alert) => ({
    'data-testid': 'alert-row',
    'data-rule': a.rule,
    'data-alert-id': a.id,
    class: `alert-row ${priorityClass(a.priority)}${a.id === this.selected ? ' selected' : ''}`,
    tabindex: 0,
  });

  private render(rows: Alert[], how: 'append' | 'live'): void {
    this.countEl.textContent = `${this.items.length} shown${this.nextBefore !== null ? ', more older' : ''}`;
    if (!this.items.length) {
      clear(this.listEl);
      this.tbody = null;
      this.listEl.append(empty(this.hasFilters() ? 'No alerts match these filters.' : 'No alerts yet. New ones appear here as they happen.'));
      return;
    }
    if (!this.tbody) {
      clear(this.listEl);
      const t = table(this.columns, [], this.rowAttrs);
      t.classList.add('alerts');
      t.addEventListener('click', (ev) => this.onRowClick(ev));
      t.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter') this.onRowClick(ev);
      });
      this.tbody = t.tBodies[0] ?? null;
      this.listEl.append(t);
      if (!this.tbody) return;
      for (const a of this.items) this.tbody.append(tableRow(this.columns, a, this.rowAttrs));
      return;
    }
    for (const a of rows) {
      const tr = tableRow(this.columns, a, this.rowAttrs);
      if (how === 'append') {
        this.tbody.append(tr);
      } else {
        tr.classList.add('fresh');
        const pos = this.items.indexOf(a);
        const next = this.items[pos + 1];
        const before = next ? this.tbody.querySelector(`tr[data-alert-id="${next.id}"]`) : null;
        this.tbody.insertBefore(tr, before);
      }
    }
  }

  private hasFilters(): boolean {
    return Boolean(this.filters.priority || this.filters.rule || this.filters.container);
  }

  private onRowClick(ev: Event): void {
    const tr = (ev.target as Element).closest('tr[data-alert-id]');
    if (!tr) return;
    location.hash = `#/alerts/${tr.getAttribute('data-alert-id') ?? ''}`;
  }

  private select(arg: string | undefined): void {
    const id = arg !== undefined && /^\d+$/.test(arg) ? Number(arg) : undefined;
    this.selected = id;
    this.root.classList.toggle('has-detail', id !== undefined);
    for (const tr of this.listEl.querySelectorAll('tr.selected')) tr.classList.remove('selected');
    clear(this.detailEl);
    if (id === undefined) {
      this.detailEl.append(h('p', { class: 'muted hint' }, 'Select an alert to see its fields and process tree.'));
      return;
    }
    this.listEl.querySelector(`tr[data-alert-id="${id}"]`)?.classList.add('selected');
    this.detailEl.append(loading());
    void this.loadDetail(id);
  }

  private async loadDetail(id: number): Promise<void> {
    try {
      const alert = await api<Alert>(`/api/alerts/${id}`);
      if (this.selected !== id) return;
      clear(this.detailEl);
      this.detailEl.append(...alertDetail(alert));
    } catch (err) {
      if (this.selected !== id) return;
      clear(this.detailEl);
      this.detailEl.append(closeLink(), empty(`Alert ${id} could not be loaded.`));
      showError(err);
    }
  }
}

function closeLink(): HTMLElement {
  return h('a', { href: '#/alerts', class: 'close', 'aria-label': 'Close detail' }, '← back to the list');
}

function kv(rows: [string, unknown][]): HTMLElement {
  return h('table', { class: 'kv' },
    h('tbody', null, rows.map(([k, v]) => h('tr', null, h('th', null, k), h('td', null, mono(fmtValue(v)))))));
}

function processTree(tree: TreeProcess[]): HTMLElement {
  if (!tree.length) return empty('No process tree was recorded for this alert.');
  // The agent lists the process first, then its ancestors; draw from the root down.
  const ordered = [...tree].reverse();
  return h('ol', { class: 'ptree', 'data-testid': 'process-tree' },
    ordered.map((p, depth) => h('li', {
      class: depth === ordered.length - 1 ? 'self' : '',
      style: `--depth:${depth}`,
      'data-pid': p.pid,
    },
    h('div', { class: 'pline' },
      h('strong', null, p.name ?? '?'),
      h('span', { class: 'muted' }, ` pid ${p.pid}${p.ppid !== undefined ? ` · ppid ${p.ppid}` : ''}${p.uid !== undefined ? ` · uid ${p.uid}` : ''}`)),
    p.exe ? h('div', { class: 'muted small' }, mono(p.exe)) : null,
    p.cmdline ? h('div', { class: 'small' }, mono(p.cmdline)) : null)));
}

function alertDetail(a: Alert): Node[] {
  const fields = Object.entries(a.output_fields ?? {}).sort(([x], [y]) => x.localeCompare(y));
  return [
    closeLink(),
    h('div', { class: `detail-head ${priorityClass(a.priority)}` },
      badge(a.priority),
      h('h2', null, a.rule),
      h('p', { class: 'muted' }, fmtTime(a.time), ' · ', containerLabel(a.container))),
    a.output ? h('p', { class: 'output-full' }, mono(a.output)) : null,
    h('h3', null, 'Alert'),
    kv([
      ['id', a.id],
      ['time', a.time],
      ['time_ns', a.time_ns],
      ['rule', a.rule],
      ['priority', `${a.priority}${a.priority_level !== undefined ? ` (${a.priority_level})` : ''}`],
      ['source', a.source],
      ['action', a.action],
      ['hostname', a.hostname],
      ['container', a.container ? containerLabel(a.container) : 'host'],
      ['pid', a.pid],
      ['tags', (a.tags ?? []).join(', ')],
    ]),
    h('h3', null, 'Output fields'),
    fields.length ? h('div', { 'data-testid': 'output-fields' }, kv(fields)) : empty('No output fields.'),
    h('h3', null, 'Process tree'),
    processTree(a.process_tree ?? []),
    h('details', { class: 'raw' }, h('summary', null, 'Raw JSON'), h('pre', null, JSON.stringify(a, null, 2))),
  ].filter((n): n is HTMLElement => n !== null);
}

const FILTER_KEY = 'vigil.alertFilters';
function readFilters(): Filters {
  try {
    const raw = sessionStorage.getItem(FILTER_KEY);
    if (raw) {
      const f = JSON.parse(raw) as Partial<Filters>;
      return { priority: f.priority ?? '', rule: f.rule ?? '', container: f.container ?? '' };
    }
  } catch {
    // ignore
  }
  return { priority: '', rule: '', container: '' };
}
function writeFilters(f: Filters): void {
  try {
    sessionStorage.setItem(FILTER_KEY, JSON.stringify(f));
  } catch {
    // ignore
  }
}

let view: AlertsView | null = null;

export const alertsPage: PageModule = {
  title: 'Alerts',
  mount(root, arg) {
    view = new AlertsView();
    view.mount(root, arg);
  },
  update(arg) {
    view?.update(arg);
  },
  unmount() {
    view?.unmount();
    view = null;
  },
};
