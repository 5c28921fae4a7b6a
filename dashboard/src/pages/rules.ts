// Rules: what is loaded (priority, enabled, action, hits), what was skipped and why, warnings.
import { api } from '../api';
import { h, append, clear, table, empty, loading, badge, fmtTime, priorityLevel, type Column } from '../dom';
import { showError } from '../ui';
import type { LoadedRule, Rules, SkippedRule } from '../types';
import type { PageModule } from '../main';

let generation = 0;

const loadedColumns: Column<LoadedRule>[] = [
  { label: 'Rule', cell: (r) => h('strong', null, r.name), class: 'wide' },
  { label: 'Priority', cell: (r) => badge(r.priority) },
  { label: 'Enabled', cell: (r) => h('span', { class: `pill ${r.enabled === false ? 'off' : 'ok'}` }, r.enabled === false ? 'no' : 'yes') },
  { label: 'Action', cell: (r) => (r.action && r.action !== 'alert' ? h('span', { class: 'pill bad' }, r.action) : (r.action ?? 'alert')) },
  { label: 'Hits', cell: (r) => (r.hits ? h('strong', null, r.hits) : '0'), class: 'num' },
  { label: 'Last hit', cell: (r) => fmtTime(r.last_hit), class: 'nowrap' },
  { label: 'Tags', cell: (r) => (r.tags ?? []).map((t) => h('span', { class: 'tag' }, t)) },
  { label: 'Source', cell: (r) => h('span', { class: 'muted small' }, r.source ?? '') },
];

const skippedColumns: Column<SkippedRule>[] = [
  { label: 'Rule', cell: (r) => h('strong', null, r.name) },
  { label: 'Reason', cell: (r) => r.reason ?? '—', class: 'wide' },
  { label: 'Source', cell: (r) => h('span', { class: 'muted small' }, r.source ?? '') },
];

function render(root: HTMLElement, rules: Rules): void {
  const loaded = [...(rules.loaded ?? [])].sort(
    (a, b) => (b.hits ?? 0) - (a.hits ?? 0) || priorityLevel(a.priority) - priorityLevel(b.priority) || a.name.localeCompare(b.name),
  );
  const skipped = rules.skipped ?? [];
  const warnings = rules.warnings ?? [];
  const c = rules.counters ?? {};
  const filter = h('input', { type: 'search', placeholder: 'filter rules', 'aria-label': 'Filter rules' });
  const loadedBox = h('div', { 'data-testid': 'rules-loaded' });
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const rows = q ? loaded.filter((r) => r.name.toLowerCase().includes(q) || (r.tags ?? []).some((t) => t.includes(q))) : loaded;
    clear(loadedBox);
    loadedBox.append(rows.length ? table(loadedColumns, rows, (r) => ({ 'data-testid': 'rule-row', 'data-rule': r.name, class: r.enabled === false ? 'disabled' : '' })) : empty(q ? 'No rule matches.' : 'No rules loaded.'));
  };
  filter.addEventListener('input', draw);
  draw();
  append(root, [
    h('div', { class: 'stats' },
      h('div', { class: 'stat' }, h('div', { class: 'stat-value' }, rules.enabled === false ? 'off' : 'on'), h('div', { class: 'stat-label' }, 'rules engine')),
      h('div', { class: 'stat' }, h('div', { class: 'stat-value' }, loaded.length), h('div', { class: 'stat-label' }, 'loaded')),
      h('div', { class: `stat ${skipped.length ? 'warn' : ''}` }, h('div', { class: 'stat-value' }, skipped.length), h('div', { class: 'stat-label' }, 'skipped')),
      h('div', { class: 'stat' }, h('div', { class: 'stat-value' }, c.events_evaluated ?? '—'), h('div', { class: 'stat-label' }, 'events evaluated')),
      h('div', { class: 'stat' }, h('div', { class: 'stat-value' }, c.matches ?? '—'), h('div', { class: 'stat-label' }, 'matches')),
      h('div', { class: 'stat' }, h('div', { class: 'stat-value' }, c.eval_ns !== undefined ? `${(c.eval_ns / 1e6).toFixed(1)} ms` : '—'), h('div', { class: 'stat-label' }, 'evaluation time'))),
    (rules.sources ?? []).length ? h('p', { class: 'muted small' }, 'Sources: ', (rules.sources ?? []).join(', ')) : null,
    h('div', { class: 'page-head' }, h('h2', null, `Loaded (${loaded.length})`), filter),
    loadedBox,
    h('h2', null, `Skipped (${skipped.length})`),
    skipped.length ? table(skippedColumns, skipped, () => ({ 'data-testid': 'skipped-row' })) : empty('No rules were skipped.'),
    h('h2', null, `Warnings (${warnings.length})`),
    warnings.length ? h('ul', { class: 'warnings' }, warnings.map((w) => h('li', null, h('code', { class: 'mono' }, w)))) : empty('No warnings.'),
  ]);
}

export const rulesPage: PageModule = {
  title: 'Rules',
  mount(root) {
    const gen = ++generation;
    const body = h('div', null, loading());
    root.append(h('div', { class: 'page-head' }, h('h1', null, 'Rules')), body);
    void api<Rules>('/api/rules').then(
      (rules) => {
        if (gen !== generation) return;
        clear(body);
        render(body, rules);
      },
      (err: unknown) => {
        if (gen !== generation) return;
        clear(body);
        body.append(empty('The rules could not be loaded.'));
        showError(err);
      },
    );
  },
  unmount() {
    generation++;
  },
};
