// Flows: the network policy in force (policies with their counters), the flow records from the
// store with filters (workload, verdict, policy) and paging, and who talks to whom among the
// records loaded (subject -> peer, by verdict). docs/netpolicy.md "Flow log".
import { api } from '../api';
import { h, clear, table, empty, loading, fmtTime, mono, type Column } from '../dom';
import { showError } from '../ui';
import type { FlowEvent, Netpolicy, Page } from '../types';
import type { PageModule } from '../main';

let generation = 0;

function verdictPill(v: string | undefined): HTMLElement {
  const value = v ?? '—';
  const cls = value === 'allow' ? 'ok' : value === 'deny' ? 'bad' : 'warn';
  return h('span', { class: `pill ${cls}` }, value);
}

function peer(f: FlowEvent): string {
  const e = f.event;
  const addr = e.family === 'ipv6' ? `[${e.remote_addr ?? ''}]` : (e.remote_addr ?? '');
  return e.protocol === 'icmp' ? addr : `${addr}:${e.remote_port ?? ''}`;
}

function workload(f: FlowEvent): string {
  return f.event.subject || `uid ${f.event.uid ?? '?'}`;
}

const flowColumns: Column<FlowEvent>[] = [
  { label: 'Time', cell: (f) => fmtTime(f.time), class: 'nowrap' },
  { label: 'Verdict', cell: (f) => verdictPill(f.event.verdict) },
  { label: 'Dir', cell: (f) => f.event.direction ?? '—' },
  { label: 'Proto', cell: (f) => f.event.protocol ?? '—' },
  { label: 'Peer', cell: (f) => mono(peer(f)) },
  { label: 'Workload', cell: (f) => mono(workload(f)), class: 'wide' },
  { label: 'Process', cell: (f) => (f.event.pid ? `${f.event.comm ?? ''} (${f.event.pid})` : '—') },
  { label: 'Policy / rule', cell: (f) => mono(`${f.event.policy ?? ''} / ${f.event.rule ?? ''}`) },
  { label: 'Hook', cell: (f) => f.event.hook ?? '—' },
];

function policyTable(info: Netpolicy): HTMLElement {
  if (!info.enabled) return empty('Network policy is not enabled on this agent.');
  const rows = info.policies ?? [];
  if (!rows.length) return empty('No policy in force.');
  return table(
    [
      { label: 'Policy', cell: (p) => h('strong', null, p.name) },
      { label: 'Mode', cell: (p) => p.mode ?? '—' },
      { label: 'Allowed', cell: (p) => p.allowed ?? 0, class: 'num' },
      { label: 'Denied', cell: (p) => p.denied ?? 0, class: 'num' },
      { label: 'Would deny', cell: (p) => p.audited ?? 0, class: 'num' },
      { label: 'Lost', cell: (p) => p.lost ?? 0, class: 'num' },
    ],
    rows,
    (p) => ({ 'data-testid': 'policy-row', 'data-policy': p.name }),
  );
}

// Who talks to whom among the loaded records: one row per workload and peer, counts by verdict.
function talkers(rows: FlowEvent[]): HTMLElement {
  const pairs = new Map<string, { from: string; to: string; allow: number; deny: number; would: number }>();
  for (const f of rows) {
    const e = f.event;
    const from = e.direction === 'ingress' ? peer(f) : workload(f);
    const to = e.direction === 'ingress' ? `${workload(f)}:${e.local_port ?? ''}` : peer(f);
    const key = `${from}\u0000${to}`;
    const pair = pairs.get(key) ?? { from, to, allow: 0, deny: 0, would: 0 };
    if (e.verdict === 'allow') pair.allow++;
    else if (e.verdict === 'deny') pair.deny++;
    else pair.would++;
    pairs.set(key, pair);
  }
  if (!pairs.size) return empty('No flows loaded.');
  return table(
    [
      { label: 'From', cell: (p) => mono(p.from), class: 'wide' },
      { label: 'To', cell: (p) => mono(p.to), class: 'wide' },
      { label: 'Allowed', cell: (p) => p.allow, class: 'num' },
      { label: 'Denied', cell: (p) => p.deny, class: 'num' },
      { label: 'Would deny', cell: (p) => p.would, class: 'num' },
    ],
    [...pairs.values()].sort((a, b) => b.deny - a.deny || b.allow + b.would - (a.allow + a.would)),
    () => ({ 'data-testid': 'talker-row' }),
  );
}

export const flowsPage: PageModule = {
  title: 'Flows',
  mount(root) {
    const gen = ++generation;
    const policies = h('div', { 'data-testid': 'netpolicy-policies' }, loading());
    const verdictSel = h('select', { name: 'verdict' },
      [['', 'any verdict'], ['deny', 'deny'], ['would-deny', 'would deny (audit)'], ['allow', 'allow (sampled)']].map(
        ([v, label]) => h('option', { value: v }, label)));
    const policyIn = h('input', { name: 'policy', placeholder: 'policy name' });
    const workloadIn = h('input', { name: 'workload', placeholder: 'subject or process, e.g. container=' });
    const list = h('div', { 'data-testid': 'flows' }, loading());
    const map = h('div', { 'data-testid': 'talkers' }, loading());
    const more = h('button', { type: 'button', class: 'more', hidden: true }, 'Older');
    let rows: FlowEvent[] = [];
    let next: number | null = null;
    let loads = 0;
    const load = async (first: boolean) => {
      const mine = ++loads;
      more.disabled = true;
      try {
        const page = await api<Page<FlowEvent>>('/api/netpolicy/flows', {
          verdict: verdictSel.value,
          policy: policyIn.value.trim(),
          workload: workloadIn.value.trim(),
          limit: 200,
          before: first ? null : next,
        });
        if (mine !== loads || gen !== generation) return;
        rows = first ? page.items : rows.concat(page.items);
        next = page.next_before ?? null;
        clear(list);
        list.append(rows.length ? table(flowColumns, rows, (f) => ({ 'data-testid': 'flow-row', 'data-verdict': f.event.verdict ?? '' })) : empty('No flows.'));
        clear(map);
        map.append(talkers(rows));
        more.hidden = next === null;
      } catch (err) {
        if (mine !== loads || gen !== generation) return;
        clear(list);
        list.append(empty('Could not be loaded.'));
        showError(err);
      } finally {
        more.disabled = false;
      }
    };
    const reload = () => void load(true);
    verdictSel.addEventListener('change', reload);
    policyIn.addEventListener('change', reload);
    workloadIn.addEventListener('change', reload);
    more.addEventListener('click', () => void load(false));
    root.append(
      h('div', { class: 'page-head' }, h('h1', null, 'Flows')),
      h('h2', null, 'Policies in force'),
      policies,
      h('h2', null, 'Flow records'),
      h('form', { class: 'filters', onsubmit: (ev: Event) => { ev.preventDefault(); reload(); } },
        h('label', null, h('span', null, 'Verdict'), verdictSel),
        h('label', null, h('span', null, 'Policy'), policyIn),
        h('label', null, h('span', null, 'Workload'), workloadIn)),
      list,
      more,
      h('h2', null, 'Who talks to whom (records above)'),
      map,
    );
    reload();
    void api<Netpolicy>('/api/netpolicy').then(
      (info) => {
        if (gen !== generation) return;
        clear(policies);
        policies.append(policyTable(info));
      },
      (err: unknown) => {
        if (gen !== generation) return;
        clear(policies);
        policies.append(empty('The network policy could not be loaded.'));
        showError(err);
      },
    );
  },
  unmount() {
    generation++;
  },
};
