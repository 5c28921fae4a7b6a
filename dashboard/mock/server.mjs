#!/usr/bin/env node
// A mock of the agent's console API (docs/api.md) for developing and testing the dashboard
// alone. Plain Node, no dependencies.
//
//   node mock/server.mjs [--port 7380] [--host 127.0.0.1] [--dist DIR] [--token T]
//
// Serves DIR (the built dashboard; any other non-API path answers index.html) and the API
// from fixtures. Controls (not part of the real API):
//   POST /mock/emit   body {"rule"?, "priority"?, "container"?} -> a new alert, sent on the stream
//   POST /mock/fail   body {"fail": true|false} (default true): every /api/* answers 500
//   POST /mock/token  body {"token": "T"|null}: require that bearer token (401 otherwise)
//   POST /mock/reset  fixtures and switches back to their start state
// Environment: MOCK_FAIL=1 starts failing, MOCK_TOKEN=T starts requiring T.
// Prints one JSON line {"mock":"listening","url":...} when ready.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildFixtures, makeAlert, CONTAINERS, RULES, hex } from './fixtures.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
function opt(name, fallback) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}
const port = Number(opt('port', process.env.MOCK_PORT ?? '7380'));
const host = opt('host', '127.0.0.1');
const dist = path.resolve(opt('dist', process.env.MOCK_DIST ?? path.join(here, '..', 'dist')));

let state;
let fail;
let token;
function reset() {
  state = buildFixtures();
  fail = process.env.MOCK_FAIL === '1';
  token = opt('token', process.env.MOCK_TOKEN || null);
}
reset();
const started = new Date();
const clients = new Set();

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json',
  '.woff2': 'font/woff2', '.map': 'application/json',
};
const PRIORITIES = ['emergency', 'alert', 'critical', 'error', 'warning', 'notice', 'informational', 'debug'];

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function limitOf(q) {
  if (!q.has('limit')) return 100;
  const n = Number(q.get('limit'));
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new HttpError(400, 'limit: must be an integer 1..1000');
  return n;
}
function beforeOf(q) {
  if (!q.has('before')) return null;
  const n = Number(q.get('before'));
  if (!Number.isInteger(n)) throw new HttpError(400, 'before: must be an id');
  return n;
}
function timeOf(q, name) {
  if (!q.has(name)) return null;
  const v = q.get(name);
  const n = /^\d+(\.\d+)?$/.test(v) ? Number(v) * 1000 : Date.parse(v);
  if (Number.isNaN(n)) throw new HttpError(400, `${name}: not RFC 3339 nor Unix seconds`);
  return n * 1e6; // ns
}
// Newest first, keyset paging on id.
function page(items, q) {
  const limit = limitOf(q);
  const before = beforeOf(q);
  const sorted = items.filter((x) => before === null || x.id < before).sort((a, b) => b.id - a.id);
  const out = sorted.slice(0, limit);
  return { items: out, next_before: sorted.length > limit ? out[out.length - 1].id : null };
}
function timeFilter(items, q) {
  const since = timeOf(q, 'since');
  const until = timeOf(q, 'until');
  return items.filter((x) => (since === null || x.time_ns >= since) && (until === null || x.time_ns <= until));
}
function publicAlert(a) {
  const { process_tree: _tree, ...rest } = a;
  return rest;
}
function containerOf(a) {
  return a.container?.id ?? 'host';
}

function containers() {
  return CONTAINERS.map((c) => {
    const alerts = state.alerts.filter((a) => containerOf(a) === c.id);
    const last = alerts.length ? alerts[alerts.length - 1].time : new Date(Number(state.nowNs / 1000000n) - 3 * 3600e3).toISOString();
    return {
      id: c.id, name: c.name, running: c.running,
      processes: state.processes.filter((p) => p.container.id === c.id).length,
      first_seen: new Date(Number(state.nowNs / 1000000n) - 6 * 3600e3).toISOString(),
      last_seen: c.running ? new Date().toISOString() : last,
      events: 1000 + alerts.length * 57, alerts: alerts.length,
    };
  }).sort((a, b) => Number(b.running) - Number(a.running));
}

function activity(id, q) {
  const c = CONTAINERS.find((x) => x.id === id);
  if (!c) throw new HttpError(404, `container: no container ${id}`);
  const nowS = Math.floor(Date.now() / 1000);
  const until = q.has('until') ? Math.floor(timeOf(q, 'until') / 1e9) : nowS;
  const since = q.has('since') ? Math.floor(timeOf(q, 'since') / 1e9) : until - 3600;
  const times = [];
  for (let t = Math.floor(since / 10) * 10; t <= until; t += 10) times.push(t);
  const k = id.charCodeAt(0) % 5;
  const wave = (t, a, b) => Math.max(0, Math.round(a + b * Math.sin((t / 600) + k) + ((t * 7919) % 13)));
  const series = {
    execve: times.map((t) => wave(t, 3, 3)),
    openat: times.map((t) => wave(t, 60, 40)),
    connect: times.map((t) => wave(t, 8, 6)),
  };
  if (id === 'host') series.init_module = times.map((t, i) => (i % 97 === 0 ? 1 : 0 * t));
  const alerts = state.alerts
    .filter((a) => containerOf(a) === id && a.time_ns / 1e9 >= since && a.time_ns / 1e9 <= until + 10)
    .map((a) => ({ id: a.id, time_ns: a.time_ns, rule: a.rule, priority: a.priority }));
  return { container: { id: c.id, name: c.name }, bucket_seconds: 10, since, until, times, series, alerts };
}

function rules() {
  const hits = new Map();
  const last = new Map();
  for (const a of state.alerts) {
    hits.set(a.rule, (hits.get(a.rule) ?? 0) + 1);
    last.set(a.rule, a.time);
  }
  return {
    enabled: true,
    sources: ['built-in rules/default.yaml', '/etc/vigil/rules.d/local.yaml'],
    loaded: [
      ...RULES.map((r, i) => ({
        name: r.name, priority: r.priority, enabled: r.priority !== 'Debug', tags: r.tags,
        action: r.priority === 'Emergency' ? 'kill' : 'alert', source: `default.yaml:${40 + i * 23}`,
        hits: hits.get(r.name) ?? 0, last_hit: last.get(r.name) ?? null,
      })),
      { name: 'Modify shell configuration file', priority: 'Warning', enabled: true, tags: ['filesystem'], action: 'alert', source: 'local.yaml:3', hits: 0, last_hit: null },
    ],
    skipped: [
      { name: 'Container image from untrusted registry', reason: 'unsupported field container.image.repository', source: 'default.yaml:301' },
      { name: 'K8s secret read', reason: 'unsupported source k8s_audit', source: 'local.yaml:19' },
    ],
    warnings: ['local.yaml:44: macro never_true is defined but never used'],
    counters: { events_evaluated: 1842211, matches: state.alerts.length, eval_ns: 912345678 },
  };
}

function api(req, url) {
  const q = url.searchParams;
  const p = url.pathname;
  if (p === '/api/health') {
    return {
      status: 'ok', version: '0.1.0-mock', hostname: 'mockhost', started: started.toISOString(),
      uptime_s: Math.floor((Date.now() - started.getTime()) / 1000) + 3 * 86400 + 4000,
      integrity: { mode: 'enforce', enabled: true }, runtime: { enabled: true },
      store: { rows: 48211, bytes: 7340032, dropped: 0 },
    };
  }
  if (p === '/api/alerts') {
    let items = timeFilter(state.alerts, q);
    const rulesWanted = q.getAll('rule');
    if (rulesWanted.length) items = items.filter((a) => rulesWanted.includes(a.rule));
    if (q.has('priority')) {
      let name = q.get('priority').toLowerCase();
      if (name === 'info') name = 'informational';
      const level = PRIORITIES.indexOf(name);
      if (level < 0) throw new HttpError(400, `priority: unknown priority ${q.get('priority')}`);
      items = items.filter((a) => a.priority_level <= level);
    }
    if (q.has('container')) items = items.filter((a) => containerOf(a) === q.get('container'));
    const out = page(items, q);
    return { ...out, items: out.items.map(publicAlert) };
  }
  let m = p.match(/^\/api\/alerts\/(\d+)$/);
  if (m) {
    const a = state.alerts.find((x) => x.id === Number(m[1]));
    if (!a) throw new HttpError(404, `id: no alert ${m[1]}`);
    return a;
  }
  if (p === '/api/processes') {
    const c = q.get('container');
    return { items: state.processes.filter((x) => !c || x.container.id === c).sort((a, b) => a.pid - b.pid) };
  }
  if (p === '/api/containers') return { items: containers() };
  m = p.match(/^\/api\/containers\/([^/]+)\/activity$/);
  if (m) return activity(decodeURIComponent(m[1]), q);
  if (p === '/api/integrity') {
    const denied = state.denials.length;
    return {
      mode: 'enforce', measurements: state.measurements.length,
      pcrs: { sha256: { 10: hex(10), 0: hex(0) }, sha1: { 10: hex(11).slice(0, 40) }, sm3: { 10: hex(12) } },
      pcr_backend: 'software', decisions: { allowed: 18234, denied, timeouts: 1 },
    };
  }
  if (p === '/api/integrity/measurements') {
    let items = state.measurements;
    if (q.has('verdict')) { const want = q.get('verdict') === 'none' ? '' : q.get('verdict'); items = items.filter((x) => x.verdict === want); }
    if (q.has('path')) items = items.filter((x) => x.path.startsWith(q.get('path')));
    return page(items, q);
  }
  if (p === '/api/integrity/denials') return page(timeFilter(state.denials, q), q);
  if (p === '/api/rules') return rules();
  if (p === '/api/policy') return { policy: 'measure func=BPRM_CHECK\nappraise func=BPRM_CHECK appraise_type=imasig\n', warnings: [] };
  if (p === '/api/events') return { items: [], next_before: null };
  if (p === '/api/netpolicy') return { enabled: false };
  if (p === '/api/netpolicy/flows') return { items: [], next_before: null };
  throw new HttpError(404, `path: no such endpoint ${p}`);
}

function sse(req, res, url) {
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
  res.write(': vigil mock stream\n\n');
  const since = Number(req.headers['last-event-id'] ?? url.searchParams.get('since_id') ?? NaN);
  if (Number.isFinite(since)) for (const a of state.alerts.filter((x) => x.id > since)) writeAlert(res, a);
  const keep = setInterval(() => res.write(': keep-alive\n\n'), 15000);
  const client = { res };
  clients.add(client);
  req.on('close', () => {
    clearInterval(keep);
    clients.delete(client);
  });
}
function writeAlert(res, a) {
  res.write(`event: alert\nid: ${a.id}\ndata: ${JSON.stringify(publicAlert(a))}\n\n`);
}

function readBody(req) {
  return new Promise((resolve) => {
    let data = '';
    req.on('data', (c) => { data += c; });
    req.on('end', () => {
      try { resolve(data ? JSON.parse(data) : {}); } catch { resolve({}); }
    });
  });
}

async function control(req, res, url) {
  const body = await readBody(req);
  switch (url.pathname) {
    case '/mock/emit': {
      const rule = RULES.find((r) => r.name === body.rule) ?? { ...RULES[0], name: body.rule ?? RULES[0].name, priority: body.priority ?? RULES[0].priority };
      const container = CONTAINERS.find((c) => c.id === body.container) ?? CONTAINERS[0];
      const id = (state.alerts.at(-1)?.id ?? 0) + 1;
      const alert = makeAlert(id, BigInt(Date.now()) * 1000000n + BigInt(id % 1000), body.priority ? { ...rule, priority: body.priority } : rule, container);
      state.alerts.push(alert);
      for (const c of clients) writeAlert(c.res, alert);
      return send(res, 200, publicAlert(alert));
    }
    case '/mock/fail':
      fail = body.fail !== false;
      return send(res, 200, { fail });
    case '/mock/token':
      token = body.token ?? null;
      return send(res, 200, { token_required: token !== null });
    case '/mock/reset':
      reset();
      return send(res, 200, { reset: true });
    default:
      return send(res, 404, { error: `path: no mock control ${url.pathname}` });
  }
}

function serveFile(res, url) {
  let rel = decodeURIComponent(url.pathname);
  if (rel.includes('\0')) return send(res, 400, { error: 'path' });
  let file = path.join(dist, path.normalize(rel));
  if (!file.startsWith(dist)) return send(res, 404, { error: 'path' });
  if (!fs.existsSync(file) || fs.statSync(file).isDirectory()) file = path.join(dist, 'index.html');
  if (!fs.existsSync(file)) {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    return res.end(`mock: the dashboard is not built (${dist}); run npm run build`);
  }
  const body = fs.readFileSync(file);
  res.writeHead(200, {
    'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
    'Cache-Control': file.includes(`${path.sep}assets${path.sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache',
  });
  res.end(body);
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://mock');
  try {
    if (url.pathname.startsWith('/mock/')) {
      if (req.method !== 'POST') return send(res, 405, { error: 'POST only' });
      return await control(req, res, url);
    }
    if (url.pathname.startsWith('/api/')) {
      if (fail) return send(res, 500, { error: 'mock failure (MOCK_FAIL)' });
      if (token) {
        const auth = req.headers.authorization ?? '';
        if (auth !== `Bearer ${token}` && url.searchParams.get('token') !== token) {
          return send(res, 401, { error: 'token: missing or wrong bearer token' });
        }
      }
      if (url.pathname === '/api/stream') return sse(req, res, url);
      return send(res, 200, api(req, url));
    }
    return serveFile(res, url);
  } catch (err) {
    if (err instanceof HttpError) return send(res, err.status, { error: err.message });
    console.error(err);
    return send(res, 500, { error: String(err) });
  }
});

server.listen(port, host, () => {
  const addr = server.address();
  console.log(JSON.stringify({ mock: 'listening', url: `http://${host}:${addr.port}`, dist }));
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const c of clients) c.res.end();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 500).unref();
  });
}
