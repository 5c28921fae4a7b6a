// Small DOM helpers: h() builds elements, table() builds a responsive table.

export type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs | null = null,
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (typeof value === 'function') {
        el.addEventListener(key.replace(/^on/, '').toLowerCase(), value);
      } else if (key === 'class') {
        el.className = String(value);
      } else if (value === true) {
        el.setAttribute(key, '');
      } else {
        el.setAttribute(key, String(value));
      }
    }
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

export interface Column<T> {
  label: string;
  cell: (row: T) => Child | Child[];
  class?: string;
}

// A table that becomes stacked cards on narrow screens (CSS reads data-label).
export function table<T>(
  columns: Column<T>[],
  rows: T[],
  rowAttrs?: (row: T) => Attrs,
): HTMLTableElement {
  const tbody = h('tbody');
  for (const row of rows) tbody.appendChild(tableRow(columns, row, rowAttrs));
  return h(
    'table',
    { class: 'grid' },
    h('thead', null, h('tr', null, columns.map((c) => h('th', c.class ? { class: c.class } : null, c.label)))),
    tbody,
  );
}

export function tableRow<T>(columns: Column<T>[], row: T, rowAttrs?: (row: T) => Attrs): HTMLTableRowElement {
  return h(
    'tr',
    rowAttrs ? rowAttrs(row) : null,
    columns.map((c) => h('td', { 'data-label': c.label, class: c.class }, c.cell(row))),
  );
}

export function empty(text: string): HTMLElement {
  return h('p', { class: 'empty', 'data-testid': 'empty' }, text);
}

export function loading(): HTMLElement {
  return h('p', { class: 'loading' }, 'Loading…');
}

const PRIORITIES = ['emergency', 'alert', 'critical', 'error', 'warning', 'notice', 'informational', 'debug'];
export const PRIORITY_NAMES = ['Emergency', 'Alert', 'Critical', 'Error', 'Warning', 'Notice', 'Informational', 'Debug'];

// Falco's level: 0 (Emergency) .. 7 (Debug); "info" is Informational.
export function priorityLevel(name: string | undefined): number {
  const n = (name ?? '').toLowerCase();
  const i = PRIORITIES.indexOf(n === 'info' ? 'informational' : n);
  return i < 0 ? 7 : i;
}

export function priorityClass(name: string | undefined): string {
  return `prio-${PRIORITIES[priorityLevel(name)] ?? 'debug'}`;
}

export function badge(priority: string | undefined): HTMLElement {
  return h('span', { class: `badge ${priorityClass(priority)}` }, priority ?? '?');
}

export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
  );
}

// "18:00:01.123" today, "11-23 18:00:01" on another day.
export function fmtShortTime(iso: string | null | undefined): string {
  const full = fmtTime(iso);
  if (!iso) return full;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return full;
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay ? full.slice(11) : full.slice(5, 19);
}

export function fmtDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const hh = Math.floor((s % 86400) / 3600);
  const mm = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${hh}h`;
  if (hh > 0) return `${hh}h ${mm}m`;
  if (mm > 0) return `${mm}m ${s % 60}s`;
  return `${s}s`;
}

export function fmtValue(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

export function containerLabel(c: { id: string; name?: string } | null | undefined): string {
  if (!c || !c.id) return 'host';
  if (c.id === 'host') return 'host';
  return c.name ? `${c.name} (${c.id})` : c.id;
}

export function mono(text: string): HTMLElement {
  return h('code', { class: 'mono' }, text);
}
