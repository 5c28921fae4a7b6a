// Containers: the list (GET /api/containers); the selected one's activity chart (uPlot, a line
// per event type, 10 s buckets, alert markers as vertical lines) and its live processes.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { api } from '../api';
import { h, clear, table, empty, loading, badge, fmtTime, fmtShortTime, containerLabel, mono, type Column } from '../dom';
import { showError } from '../ui';
import type { Activity, ActivityAlert, Container, Page, Process } from '../types';
import type { PageModule } from '../main';

const PALETTE = ['#2563eb', '#059669', '#9333ea', '#0891b2', '#ca8a04', '#db2777', '#4b5563', '#65a30d', '#7c3aed', '#0d9488'];
const PRIORITY_COLOURS: Record<string, string> = {
  emergency: '#7f1d1d', alert: '#991b1b', critical: '#dc2626', error: '#ea580c',
  warning: '#ca8a04', notice: '#2563eb', informational: '#6b7280', info: '#6b7280', debug: '#9ca3af',
};
const markerColour = (p: string) => PRIORITY_COLOURS[p.toLowerCase()] ?? '#dc2626';

let generation = 0; // bumps when the selection changes
let listGeneration = 0; // bumps when the page is left
let listEl: HTMLElement;
let detailEl: HTMLElement;
let chart: uPlot | null = null;
let resizeObserver: ResizeObserver | null = null;
let selected: string | undefined;
let containers: Container[] = [];

const columns: Column<Container>[] = [
  { label: 'Container', cell: (c) => h('span', null, h('strong', null, c.id === 'host' ? 'host' : (c.name ?? '—')), c.id !== 'host' ? h('span', { class: 'muted' }, ' ', mono(c.id)) : null) },
  { label: 'State', cell: (c) => h('span', { class: `pill ${c.running ? 'ok' : 'off'}` }, c.running ? 'running' : 'gone') },
  { label: 'Processes', cell: (c) => c.processes ?? 0, class: 'num' },
  { label: 'Events', cell: (c) => c.events ?? 0, class: 'num' },
  { label: 'Alerts', cell: (c) => (c.alerts ? h('strong', { class: 'has-alerts' }, c.alerts) : '0'), class: 'num' },
  { label: 'Last seen', cell: (c) => fmtTime(c.last_seen), class: 'nowrap' },
];

const processColumns: Column<Process>[] = [
  { label: 'PID', cell: (p) => p.pid, class: 'num' },
  { label: 'PPID', cell: (p) => p.ppid ?? '—', class: 'num' },
  { label: 'Name', cell: (p) => h('strong', null, p.name ?? '?') },
  { label: 'UID', cell: (p) => p.uid ?? '—', class: 'num' },
  { label: 'Command line', cell: (p) => mono(p.cmdline || p.exe || ''), class: 'wide' },
  { label: 'Started', cell: (p) => (p.start_time ? fmtTime(p.start_time) : '—'), class: 'nowrap' },
];

function destroyChart(): void {
  resizeObserver?.disconnect();
  resizeObserver = null;
  chart?.destroy();
  chart = null;
}

async function loadList(): Promise<void> {
  const gen = listGeneration;
  try {
    const page = await api<Page<Container>>('/api/containers');
    if (gen !== listGeneration) return;
    containers = page.items;
    renderList();
  } catch (err) {
    if (gen !== listGeneration) return;
    clear(listEl);
    listEl.append(empty('Containers could not be loaded.'));
    showError(err);
  }
}

function renderList(): void {
  clear(listEl);
  if (!containers.length) {
    listEl.append(empty('No containers seen yet.'));
    return;
  }
  const t = table(columns, containers, (c) => ({
    'data-testid': 'container-row',
    'data-container-id': c.id,
    class: `container-row${c.id === selected ? ' selected' : ''}`,
    tabindex: 0,
  }));
  const open = (ev: Event) => {
    const tr = (ev.target as Element).closest('tr[data-container-id]');
    if (tr) location.hash = `#/containers/${encodeURIComponent(tr.getAttribute('data-container-id') ?? '')}`;
  };
  t.addEventListener('click', open);
  t.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') open(ev); });
  listEl.append(t);
}

function select(id: string | undefined): void {
  selected = id;
  generation++;
  destroyChart();
  for (const tr of listEl.querySelectorAll('tr.selected')) tr.classList.remove('selected');
  clear(detailEl);
  if (!id) {
    detailEl.append(h('p', { class: 'muted hint' }, 'Select a container to see its activity and processes.'));
    return;
  }
  listEl.querySelector(`tr[data-container-id="${CSS.escape(id)}"]`)?.classList.add('selected');
  const known = containers.find((c) => c.id === id);
  const chartBox = h('div', { class: 'chart', 'data-testid': 'activity-chart' }, loading());
  const markers = h('div', { class: 'markers' });
  const procs = h('div', { class: 'processes', 'data-testid': 'process-list' }, loading());
  detailEl.append(
    h('div', { class: 'page-head' },
      h('h2', { 'data-testid': 'container-title' }, known ? containerLabel(known) : id),
      h('button', { type: 'button', class: 'ghost', onclick: () => select(id) }, 'Refresh')),
    h('h3', null, 'Activity, last hour (events per 10 s)'),
    chartBox,
    markers,
    h('h3', null, 'Live processes'),
    procs,
  );
  void loadActivity(id, chartBox, markers);
  void loadProcesses(id, procs);
}

async function loadActivity(id: string, box: HTMLElement, markers: HTMLElement): Promise<void> {
  const gen = generation;
  try {
    const act = await api<Activity>(`/api/containers/${encodeURIComponent(id)}/activity`);
    if (gen !== generation) return;
    clear(box);
    drawChart(act, box);
    renderMarkers(act.alerts ?? [], markers);
  } catch (err) {
    if (gen !== generation) return;
    clear(box);
    box.append(empty('Activity could not be loaded.'));
    showError(err);
  }
}

async function loadProcesses(id: string, box: HTMLElement): Promise<void> {
  const gen = generation;
  try {
    const page = await api<Page<Process>>('/api/processes', { container: id });
    if (gen !== generation) return;
    clear(box);
    box.append(page.items.length ? table(processColumns, page.items) : empty('No live processes in this container.'));
  } catch (err) {
    if (gen !== generation) return;
    clear(box);
    box.append(empty('Processes could not be loaded.'));
    showError(err);
  }
}

function renderMarkers(alerts: ActivityAlert[], box: HTMLElement): void {
  clear(box);
  if (!alerts.length) {
    box.append(h('p', { class: 'muted small' }, 'No alerts in this period.'));
    return;
  }
  const MAX = 12;
  const newest = [...alerts].sort((a, b) => b.time_ns - a.time_ns).slice(0, MAX);
  box.append(
    h('p', { class: 'small muted' }, `Alert markers (${alerts.length}${alerts.length > MAX ? `, newest ${MAX} listed` : ''}):`),
    h('ul', { class: 'marker-list' }, newest.map((a) => h('li', null,
      h('span', { class: 'swatch', style: `background:${markerColour(a.priority)}` }),
      h('a', { href: `#/alerts/${a.id}` }, a.rule),
      h('span', { class: 'muted' }, ' ', fmtShortTime(new Date(a.time_ns / 1e6).toISOString())),
      ' ', badge(a.priority)))),
  );
}

// Vertical lines at the alert times, drawn over the plot, with a tooltip when the cursor is near.
function markerPlugin(alerts: ActivityAlert[], tip: HTMLElement): uPlot.Plugin {
  return {
    hooks: {
      draw: [
        (u: uPlot) => {
          const ctx = u.ctx;
          const { top, height } = u.bbox;
          ctx.save();
          for (const a of alerts) {
            const x = Math.round(u.valToPos(a.time_ns / 1e9, 'x', true));
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
            ctx.strokeStyle = markerColour(a.priority);
            ctx.lineWidth = 2 * uPlot.pxRatio;
            ctx.setLineDash([4 * uPlot.pxRatio, 3 * uPlot.pxRatio]);
            ctx.beginPath();
            ctx.moveTo(x, top);
            ctx.lineTo(x, top + height);
            ctx.stroke();
            ctx.setLineDash([]);
            ctx.fillStyle = markerColour(a.priority);
            ctx.beginPath();
            const s = 6 * uPlot.pxRatio;
            ctx.moveTo(x - s, top);
            ctx.lineTo(x + s, top);
            ctx.lineTo(x, top + s * 1.4);
            ctx.closePath();
            ctx.fill();
          }
          ctx.restore();
        },
      ],
      setCursor: [
        (u: uPlot) => {
          const left = u.cursor.left ?? -1;
          if (left < 0) {
            tip.hidden = true;
            return;
          }
          const near = alerts.filter((a) => Math.abs(u.valToPos(a.time_ns / 1e9, 'x') - left) <= 6);
          if (!near.length) {
            tip.hidden = true;
            return;
          }
          tip.hidden = false;
          tip.textContent = near.map((a) => `⚑ ${a.rule} (${a.priority}) ${fmtTime(new Date(a.time_ns / 1e6).toISOString())}`).join('\n');
          const x = u.valToPos((near[0]?.time_ns ?? 0) / 1e9, 'x');
          tip.style.left = `${Math.min(Math.max(x + 8, 0), Math.max(u.over.clientWidth - 220, 0))}px`;
        },
      ],
    },
  };
}

function drawChart(act: Activity, box: HTMLElement): void {
  destroyChart();
  const types = Object.keys(act.series).sort();
  const times = act.times ?? [];
  if (!times.length) box.append(h('p', { class: 'muted small chart-empty' }, 'No events in this period.'));
  const data: uPlot.AlignedData = [
    times,
    ...types.map((t) => (act.series[t] ?? []).map((v) => v ?? 0)),
  ];
  const tip = h('div', { class: 'chart-tip', 'data-testid': 'marker-tip', hidden: true });
  const width = Math.max(box.clientWidth, 280);
  const height = window.innerWidth < 700 ? 200 : 260;
  const opts: uPlot.Options = {
    width,
    height,
    series: [
      { label: 'time' },
      ...types.map((t, i) => ({
        label: t,
        stroke: PALETTE[i % PALETTE.length] ?? '#2563eb',
        width: 1.5,
        points: { show: times.length < 60 },
      })),
    ],
    scales: {
      x: act.since !== undefined && act.until !== undefined && !times.length
        ? { time: true, range: [act.since, act.until] }
        : { time: true },
      y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] },
    },
    axes: [{}, { size: 50 }],
    legend: { show: true },
    cursor: { drag: { x: true, y: false } },
    plugins: [markerPlugin(act.alerts ?? [], tip)],
  };
  chart = new uPlot(opts, data, box);
  chart.over.append(tip);
  resizeObserver = new ResizeObserver(() => {
    if (chart && box.clientWidth > 0) chart.setSize({ width: box.clientWidth, height: window.innerWidth < 700 ? 200 : 260 });
  });
  resizeObserver.observe(box);
}

export const containersPage: PageModule = {
  title: 'Containers',
  mount(root, arg) {
    listEl = h('div', { class: 'container-list', 'data-testid': 'container-list' }, loading());
    detailEl = h('section', { class: 'container-detail' });
    root.append(h('div', { class: 'page-head' }, h('h1', null, 'Containers')), listEl, detailEl);
    select(arg);
    void loadList().then(() => {
      if (!selected) return;
      listEl.querySelector(`tr[data-container-id="${CSS.escape(selected)}"]`)?.classList.add('selected');
      const known = containers.find((c) => c.id === selected);
      const title = detailEl.querySelector('[data-testid="container-title"]');
      if (known && title) title.textContent = containerLabel(known);
    });
  },
  update(arg) {
    if (arg !== selected) select(arg);
  },
  unmount() {
    generation++;
    listGeneration++;
    destroyChart();
  },
};
