import { createHash } from 'node:crypto';

// Fixture data shaped like docs/api.md, generated relative to "now" so the last hour has
// activity. Deterministic (a small LCG), so screenshots look the same run to run.

const PRIORITIES = ['Emergency', 'Alert', 'Critical', 'Error', 'Warning', 'Notice', 'Informational', 'Debug'];

export const CONTAINERS = [
  { id: '3f2a1b4c5d6e', name: 'web', running: true },
  { id: '9c8b7a6f5e4d', name: 'db', running: true },
  { id: 'host', name: 'host', running: true },
  { id: 'a1b2c3d4e5f6', name: 'backup-job', running: false },
];

export const RULES = [
  { name: 'Read sensitive file', priority: 'Warning', tags: ['filesystem', 'mitre_credential_access'], fields: (c) => ({ 'fd.name': '/etc/shadow', 'proc.name': 'cat', 'proc.cmdline': 'cat /etc/shadow', 'user.name': 'root', 'container.id': c }) },
  { name: 'Terminal shell in container', priority: 'Notice', tags: ['container', 'shell', 'mitre_execution'], fields: (c) => ({ 'proc.name': 'sh', 'proc.pname': 'runc', 'proc.tty': 34816, 'container.id': c }) },
  { name: 'Write below binary dir', priority: 'Error', tags: ['filesystem', 'mitre_persistence'], fields: (c) => ({ 'fd.name': '/usr/bin/.backdoor', 'proc.name': 'curl', 'container.id': c }) },
  { name: 'Drop and execute new binary in container', priority: 'Critical', tags: ['container', 'mitre_persistence'], fields: (c) => ({ 'proc.exe': '/tmp/x', 'proc.name': 'x', 'container.id': c }) },
  { name: 'Outbound connection to C2 server', priority: 'Alert', tags: ['network', 'mitre_command_and_control'], fields: (c) => ({ 'fd.sip': '203.0.113.7', 'fd.sport': 4444, 'proc.name': 'x', 'container.id': c }) },
  { name: 'Kernel module loaded', priority: 'Emergency', tags: ['host', 'mitre_persistence'], fields: () => ({ 'proc.name': 'insmod', 'evt.arg.name': 'rootkit.ko' }) },
  { name: 'Package management process launched', priority: 'Informational', tags: ['process', 'software_mgmt'], fields: (c) => ({ 'proc.name': 'apt-get', 'proc.cmdline': 'apt-get install -y netcat', 'container.id': c }) },
  { name: 'Debug shell spawned', priority: 'Debug', tags: ['process'], fields: (c) => ({ 'proc.name': 'bash', 'container.id': c }) },
];

let seed = 42;
function rand() {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
}
function pick(list) {
  return list[Math.floor(rand() * list.length)];
}

export function isoNs(ns) {
  const ms = Number(ns / 1000000n);
  const frac = String(ns % 1000000000n).padStart(9, '0');
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${frac}Z`);
}

function processTree(rule, pid, containerId) {
  const name = rule.fields(containerId)['proc.name'] ?? 'proc';
  const inContainer = containerId !== 'host';
  return [
    { pid, ppid: pid - 7, name, exe: `/usr/bin/${name}`, cmdline: rule.fields(containerId)['proc.cmdline'] ?? name, uid: 0 },
    { pid: pid - 7, ppid: pid - 40, name: 'sh', exe: '/bin/sh', cmdline: 'sh -c ./entrypoint.sh', uid: 0 },
    inContainer
      ? { pid: pid - 40, ppid: 812, name: 'runc:[2:INIT]', exe: '/usr/sbin/runc', cmdline: 'runc init', uid: 0 }
      : { pid: pid - 40, ppid: 1, name: 'sshd', exe: '/usr/sbin/sshd', cmdline: 'sshd: admin@pts/0', uid: 0 },
    { pid: 1, ppid: 0, name: 'systemd', exe: '/usr/lib/systemd/systemd', cmdline: '/sbin/init', uid: 0 },
  ];
}

export function makeAlert(id, timeNs, rule, container, hostname = 'mockhost') {
  const cid = container.id;
  const pid = 4000 + ((id * 37) % 3000);
  const fields = rule.fields(cid);
  return {
    id,
    time: isoNs(timeNs),
    time_ns: Number(timeNs),
    rule: rule.name,
    priority: rule.priority,
    priority_level: PRIORITIES.indexOf(rule.priority),
    output: `${rule.name} (${Object.entries(fields).map(([k, v]) => `${k}=${v}`).join(' ')})`,
    output_fields: fields,
    source: 'syscall',
    tags: rule.tags,
    hostname,
    action: rule.priority === 'Emergency' ? 'kill' : 'alert',
    container: cid === 'host' ? { id: 'host', name: 'host' } : { id: cid, name: container.name },
    pid,
    process_tree: processTree(rule, pid, cid),
  };
}

export function buildFixtures(now = Date.now()) {
  seed = 42;
  const nowNs = BigInt(now) * 1000000n;
  const alerts = [];
  // 140 alerts over the last 50 minutes, oldest first (ids ascend with time).
  for (let i = 0; i < 140; i++) {
    const t = nowNs - BigInt(Math.floor((140 - i) * 20 + rand() * 10)) * 1000000000n - BigInt(Math.floor(rand() * 1e9));
    const rule = i % 23 === 0 ? RULES[5] : pick(RULES);
    const container = rule.name === 'Kernel module loaded' ? CONTAINERS[2] : pick(CONTAINERS.slice(0, 3));
    alerts.push(makeAlert(i + 1, t, rule, container));
  }

  const processes = [];
  let pid = 100;
  for (const c of CONTAINERS.filter((x) => x.running)) {
    const names = c.id === 'host' ? ['systemd', 'sshd', 'vigil', 'cron', 'bash'] : c.name === 'web' ? ['nginx', 'nginx', 'nginx', 'sh'] : ['postgres', 'postgres', 'postgres'];
    names.forEach((name, i) => {
      pid += 13 + i;
      processes.push({
        pid, ppid: i === 0 ? 1 : pid - 13 - i, name, exe: `/usr/sbin/${name}`,
        cmdline: name === 'nginx' ? (i === 0 ? 'nginx: master process nginx -g daemon off;' : 'nginx: worker process') : name === 'vigil' ? '/usr/bin/vigil agent --config /etc/vigil/vigil.yaml' : name,
        uid: name === 'postgres' ? 999 : 0, gid: 0, tty: null,
        start_time_ns: Number(nowNs - BigInt(3600 + i * 60) * 1000000000n),
        start_time: isoNs(nowNs - BigInt(3600 + i * 60) * 1000000000n),
        container: { id: c.id, name: c.name },
      });
    });
  }

  const measurements = [];
  const paths = ['/usr/bin/bash', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/usr/sbin/nginx', '/usr/bin/python3.11', '/etc/ld.so.cache', '/usr/local/bin/tool', '/tmp/x'];
  for (let i = 0; i < 230; i++) {
    const path = i === 0 ? 'boot_aggregate' : pick(paths);
    const t = nowNs - BigInt((230 - i) * 15) * 1000000000n;
    const verdict = path === '/tmp/x' ? '' : path === '/usr/local/bin/tool' ? 'deny' : 'allow';
    measurements.push({
      id: i + 1, index: i, time: isoNs(t), time_ns: Number(t), pcr: 10, template: 'ima-ng',
      template_hash: hex(40 + (i % 7)), file_hash: `sha256:${hex(64 + i)}`, path, verdict,
    });
  }

  const denials = [];
  for (let i = 0; i < 12; i++) {
    const t = nowNs - BigInt((12 - i) * 170) * 1000000000n;
    denials.push({
      id: i + 1, time: isoNs(t), time_ns: Number(t), verdict: 'deny', path: i % 2 ? '/tmp/x' : '/usr/local/bin/tool', pid: 5000 + i,
      reason: i % 2 ? 'no signature (security.ima missing)' : 'file hash not in the allow list',
      entry: { type: 'INTEGRITY_DATA', op: 'appraise_data', cause: 'missing-hash', res: 0 },
    });
  }

  return { nowNs, alerts, processes, measurements, denials };
}

export function hex(n) {
  return createHash('sha256').update(`vigil-mock-${n}`).digest('hex');
}
