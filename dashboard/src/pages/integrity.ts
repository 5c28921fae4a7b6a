// Integrity: mode, PCR values per bank (PCR 10 first), decision counters, the measurement list
// with verdicts (filters, paging) and recent denials (paging).
import { api, type Query } from '../api';
import { h, clear, table, empty, loading, fmtTime, mono, type Column } from '../dom';
import { showError } from '../ui';
import type { Denial, Integrity, Measurement, Page } from '../types';
import type { PageModule } from '../main';

let generation = 0;

// The agent records allow or deny for appraised files and nothing for files only measured.
function verdict(v: string | undefined): HTMLElement {
  const value = v ? v : 'measured';
  const cls = value === 'allow' ? 'ok' : value === 'deny' ? 'bad' : 'warn';
  return h('span', { class: `pill ${cls}` }, value);
}

function hash(v: string | undefined): HTMLElement {
  return h('code', { class: 'mono hash', title: v ?? '' }, v ?? '—');
}

const measurementColumns: Column<Measurement>[] = [
  { label: '#', cell: (m) => m.index ?? m.id, class: 'num' },
  { label: 'Time', cell: (m) => fmtTime(m.time), class: 'nowrap' },
  { label: 'PCR', cell: (m) => m.pcr ?? '—', class: 'num' },
  { label: 'Path', cell: (m) => mono(m.path ?? ''), class: 'wide' },
  { label: 'Verdict', cell: (m) => verdict(m.verdict) },
  { label: 'Template', cell: (m) => m.template ?? '—' },
  { label: 'File hash', cell: (m) => hash(m.file_hash) },
];

const denialColumns: Column<Denial>[] = [
  { label: 'Time', cell: (d) => fmtTime(d.time), class: 'nowrap' },
  { label: 'Verdict', cell: (d) => verdict(d.verdict) },
  { label: 'Path', cell: (d) => mono(d.path ?? ''), class: 'wide' },
  { label: 'PID', cell: (d) => d.pid ?? '—', class: 'num' },
  { label: 'Reason', cell: (d) => d.reason ?? '—' },
];

// A list with keyset paging: "Older" asks for `before` = the last page's next_before.
function pagedList<T>(opts: {
  path: string;
  columns: Column<T>[];
  emptyText: string;
  testid: string;
  query: () => Query;
}): { el: HTMLElement; reload: () => void } {
  const body = h('div', { 'data-testid': opts.testid }, loading());
  const more = h('button', { type: 'button', class: 'more', hidden: true }, 'Older');
  let next: number | null = null;
  let rows: T[] = [];
  let gen = 0;
  const load = async (first: boolean) => {
    const mine = ++gen;
    const pageGen = generation;
    more.disabled = true;
    try {
      const page = await api<Page<T>>(opts.path, { ...opts.query(), limit: 100, before: first ? null : next });
      if (mine !== gen || pageGen !== generation) return;
      rows = first ? page.items : rows.concat(page.items);
      next = page.next_before ?? null;
      clear(body);
      body.append(rows.length ? table(opts.columns, rows) : empty(opts.emptyText));
      more.hidden = next === null;
    } catch (err) {
      if (mine !== gen || pageGen !== generation) return;
      if (first) {
        clear(body);
        body.append(empty('Could not be loaded.'));
      }
      showError(err);
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener('click', () => void load(false));
  void load(true);
  return {
    el: h('div', null, body, more),
    reload: () => {
      rows = [];
      clear(body);
      body.append(loading());
      void load(true);
    },
  };
}

function summary(info: Integrity): HTMLElement {
  const d = info.decisions ?? {};
  const card = (label: string, value: string | number | undefined, cls = '') =>
    h('div', { class: `stat ${cls}` }, h('div', { class: 'stat-value' }, value ?? '—'), h('div', { class: 'stat-label' }, label));
  return h('div', { class: 'stats' },
    card('mode', info.mode, 'mode'),
    card('measurements', info.measurements),
    card('PCR backend', info.pcr_backend),
    card('allowed', d.allowed),
    card('denied', d.denied, d.denied ? 'bad' : ''),
    card('timeouts', d.timeouts, d.timeouts ? 'warn' : ''));
}

function pcrTable(pcrs: Record<string, Record<string, string>>): HTMLElement {
  const rows: { bank: string; pcr: string; value: string }[] = [];
  for (const [bank, values] of Object.entries(pcrs)) {
    const keys = Object.keys(values).sort((a, b) => (a === '10' ? -1 : b === '10' ? 1 : Number(a) - Number(b)));
    for (const pcr of keys) rows.push({ bank, pcr, value: values[pcr] ?? '' });
  }
  if (!rows.length) return empty('No PCR values (no TPM and no software PCR).');
  return table(
    [
      { label: 'Bank', cell: (r) => h('strong', null, r.bank) },
      { label: 'PCR', cell: (r) => (r.pcr === '10' ? h('span', { class: 'pill ok' }, '10 (IMA)') : r.pcr), class: 'nowrap' },
      { label: 'Value', cell: (r) => h('code', { class: 'mono hash full' }, r.value), class: 'wide' },
    ],
    rows,
    (r) => ({ 'data-testid': 'pcr-row', 'data-bank': r.bank, 'data-pcr': r.pcr }),
  );
}

export const integrityPage: PageModule = {
  title: 'Integrity',
  mount(root) {
    const gen = ++generation;
    const head = h('div', { 'data-testid': 'integrity-summary' }, loading());
    const pcrBox = h('div', { class: 'pcrs' });
    const verdictSel = h('select', { name: 'verdict' },
      [['', 'any verdict'], ['allow', 'allow'], ['deny', 'deny'], ['none', 'measured only']].map(([v, label]) =>
        h('option', { value: v }, label)));
    const pathIn = h('input', { name: 'path', placeholder: 'path prefix, e.g. /usr/bin/' });
    const measurements = pagedList<Measurement>({
      path: '/api/integrity/measurements',
      columns: measurementColumns,
      emptyText: 'No measurements yet.',
      testid: 'measurements',
      query: () => ({ verdict: verdictSel.value, path: pathIn.value.trim() }),
    });
    verdictSel.addEventListener('change', measurements.reload);
    pathIn.addEventListener('change', measurements.reload);
    const denials = pagedList<Denial>({
      path: '/api/integrity/denials',
      columns: denialColumns,
      emptyText: 'No denials.',
      testid: 'denials',
      query: () => ({}),
    });
    root.append(
      h('div', { class: 'page-head' }, h('h1', null, 'Integrity')),
      head,
      h('h2', null, 'PCR values'),
      pcrBox,
      h('h2', null, 'Recent denials'),
      denials.el,
      h('h2', null, 'Measurement list'),
      h('form', { class: 'filters', onsubmit: (ev: Event) => { ev.preventDefault(); measurements.reload(); } },
        h('label', null, h('span', null, 'Verdict'), verdictSel),
        h('label', null, h('span', null, 'Path'), pathIn)),
      measurements.el,
    );
    void api<Integrity>('/api/integrity').then(
      (info) => {
        if (gen !== generation) return;
        clear(head);
        head.append(summary(info));
        pcrBox.append(pcrTable(info.pcrs ?? {}));
      },
      (err: unknown) => {
        if (gen !== generation) return;
        clear(head);
        head.append(empty('The integrity state could not be loaded.'));
        showError(err);
      },
    );
  },
  unmount() {
    generation++;
  },
};
