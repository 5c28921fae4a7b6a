// Shared pieces of the dashboard end-to-end drivers (dashboard_e2e.mjs against an agent,
// dashboard_mock_e2e.mjs against dashboard/mock/server.mjs). playwright-core only: the browser
// is the system's chromium, never a downloaded one.
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');

export const WIDE = { width: 1280, height: 800 };
export const NARROW = { width: 390, height: 844 };
export const PAGES = ['alerts', 'containers', 'integrity', 'rules'];

export function parseArgs(argv, spec) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const [key, inline] = a.slice(2).split(/=(.*)/s, 2);
    if (!(key in spec)) throw new Error(`unknown option --${key}`);
    if (spec[key] === 'flag') {
      out[key] = true;
    } else {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new Error(`--${key} needs a value`);
      out[key] = value;
    }
  }
  return out;
}

// playwright-core from --node-modules, $VIGIL_DASHBOARD_NODE_MODULES, or dashboard/node_modules.
export function loadPlaywright(nodeModules) {
  const candidates = [nodeModules, process.env.VIGIL_DASHBOARD_NODE_MODULES, path.join(repoRoot, 'dashboard', 'node_modules')]
    .filter(Boolean)
    .map((d) => path.resolve(d));
  for (const dir of candidates) {
    if (!fs.existsSync(path.join(dir, 'playwright-core'))) continue;
    const require = createRequire(path.join(dir, 'noop.js'));
    return require('playwright-core');
  }
  throw new Error(`playwright-core not found in ${candidates.join(', ')} (npm ci in dashboard/, or pass --node-modules)`);
}

export function chromiumPath() {
  return process.env.VIGIL_CHROMIUM ?? '/usr/bin/chromium';
}

export async function launch(playwright) {
  const executablePath = chromiumPath();
  if (!fs.existsSync(executablePath)) throw new Error(`no browser at ${executablePath} (apt-get install chromium, or set VIGIL_CHROMIUM)`);
  return playwright.chromium.launch({ executablePath, args: ['--no-sandbox', '--headless=new'] });
}

// A context whose console errors, page errors and failed requests are recorded.
export async function newWatchedPage(browser, { token, viewport = WIDE } = {}) {
  const context = await browser.newContext({ viewport });
  if (token) {
    await context.addInitScript((t) => localStorage.setItem('vigil.token', t), token);
  }
  const page = await context.newPage();
  const problems = { console: [], page: [], requests: [] };
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.console.push(`${msg.text()} @ ${msg.location().url ?? ''}`);
  });
  page.on('pageerror', (err) => problems.page.push(String(err?.stack ?? err)));
  page.on('requestfailed', (req) => {
    const why = req.failure()?.errorText ?? 'failed';
    // The open SSE request is cut when the page or browser closes: not a failure of the app.
    if (why.includes('ERR_ABORTED') && new URL(req.url()).pathname === '/api/stream') return;
    problems.requests.push(`${req.method()} ${req.url()}: ${why}`);
  });
  page.on('response', (res) => {
    if (res.status() >= 400) problems.requests.push(`${res.request().method()} ${res.url()}: HTTP ${res.status()}`);
  });
  return { context, page, problems };
}

export function problemList(problems) {
  return [
    ...problems.console.map((m) => `console error: ${m}`),
    ...problems.page.map((m) => `page error: ${m}`),
    ...problems.requests.map((m) => `request: ${m}`),
  ];
}

export function pageUrl(base, name, arg) {
  return `${base.replace(/\/+$/, '')}/#/${name}${arg ? `/${encodeURIComponent(arg)}` : ''}`;
}

export async function gotoPage(page, base, name, arg) {
  const target = pageUrl(base, name, arg);
  if (page.url().startsWith(base.replace(/\/+$/, '')) && page.url().includes('#/')) {
    await page.evaluate((hash) => { location.hash = hash; }, `#/${name}${arg ? `/${encodeURIComponent(arg)}` : ''}`);
  } else {
    await page.goto(target, { waitUntil: 'load' });
  }
  await page.waitForFunction((n) => document.body.dataset.page === n, name, { timeout: 10000 });
  // Settled: no "Loading…" left on the page.
  await page.waitForFunction(() => !document.querySelector('main .loading'), null, { timeout: 15000 });
}

export function runShell(command, { timeoutMs = 60000 } = {}) {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export async function screenshot(page, out, name, shots) {
  const file = path.join(out, `${name}.png`);
  await page.screenshot({ path: file });
  shots.push(file);
  return file;
}

// Page is usable: no horizontal overflow of the document at this width.
export async function horizontalOverflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
}

export class Check {
  constructor() {
    this.failures = [];
    this.passed = [];
  }
  ok(cond, what) {
    if (cond) this.passed.push(what);
    else this.failures.push(what);
    console.error(`${cond ? 'ok  ' : 'FAIL'} ${what}`);
    return cond;
  }
}

// The main flow: live alert from a trigger, its detail, the container chart, screenshots.
export async function mainFlow(browser, opts, check, shots) {
  const { url, token, out, trigger, expectRule, container } = opts;
  const withinMs = Number(opts.withinMs ?? 2000);
  const { context, page, problems } = await newWatchedPage(browser, { token, viewport: WIDE });
  const result = { rule: expectRule };
  try {
    await gotoPage(page, url, 'alerts');
    await page.waitForFunction(() => document.body.dataset.stream === 'open', null, { timeout: 15000 });
    check.ok(true, 'alerts page loaded and the SSE stream is open');

    // Watch for a new row with the rule (ids already shown do not count).
    await page.evaluate((rule) => {
      const known = new Set([...document.querySelectorAll('[data-testid="alert-row"]')].map((r) => r.getAttribute('data-alert-id')));
      window.__e2eAppeared = null;
      const look = () => {
        for (const row of document.querySelectorAll('[data-testid="alert-row"]')) {
          if (row.getAttribute('data-rule') === rule && !known.has(row.getAttribute('data-alert-id'))) {
            window.__e2eAppeared = { id: row.getAttribute('data-alert-id'), t: Date.now() };
            observer.disconnect();
            return;
          }
        }
      };
      const observer = new MutationObserver(look);
      observer.observe(document.body, { subtree: true, childList: true });
    }, expectRule);

    const t0 = Date.now();
    const run = await runShell(trigger);
    const tDone = Date.now();
    result.trigger_ms = tDone - t0;
    result.trigger_exit = run.code;
    check.ok(run.code === 0, `trigger exited 0 (${run.code}${run.signal ? `, ${run.signal}` : ''}) in ${tDone - t0} ms`);
    if (run.code !== 0) console.error(`trigger stderr: ${run.stderr.trim()}`);

    const appeared = await page
      .waitForFunction(() => window.__e2eAppeared, null, { timeout: Math.max(withinMs * 5, 15000) })
      .then((h) => h.jsonValue())
      .catch(() => null);
    if (!check.ok(appeared !== null, `a new alert row with rule "${expectRule}" appeared`)) {
      await screenshot(page, out, 'FAILED-no-alert-1280x800', shots);
      return result;
    }
    result.alert_id = Number(appeared.id);
    result.latency_from_trigger_start_ms = appeared.t - t0;
    result.latency_from_trigger_end_ms = appeared.t - tDone;
    result.within_ms = withinMs;
    check.ok(appeared.t - tDone <= withinMs,
      `the row appeared ${appeared.t - tDone} ms after the trigger finished (${appeared.t - t0} ms after it started); limit ${withinMs} ms`);

    await page.click(`[data-testid="alert-row"][data-alert-id="${appeared.id}"]`);
    const tree = await page.waitForSelector('[data-testid="alert-detail"] [data-testid="process-tree"] li', { timeout: 10000 }).catch(() => null);
    check.ok(tree !== null, 'the alert detail shows a process tree');
    const detailRule = await page.textContent('[data-testid="alert-detail"] h2').catch(() => null);
    check.ok(detailRule === expectRule, `the detail is the alert's (heading "${detailRule}")`);
    const fields = await page.$$('[data-testid="alert-detail"] [data-testid="output-fields"] tr');
    check.ok(fields.length > 0, `the detail lists output fields (${fields.length})`);
    await screenshot(page, out, 'alerts-detail-1280x800', shots);

    // Every page at both sizes.
    for (const viewport of [WIDE, NARROW]) {
      await page.setViewportSize(viewport);
      const size = `${viewport.width}x${viewport.height}`;
      await gotoPage(page, url, 'alerts');
      await screenshot(page, out, `alerts-${size}`, shots);
      if (viewport === NARROW) {
        await gotoPage(page, url, 'alerts', String(appeared.id));
        await page.waitForSelector('[data-testid="process-tree"]', { timeout: 10000 }).catch(() => null);
        await screenshot(page, out, `alerts-detail-${size}`, shots);
      }
      let cid = container;
      if (!cid) {
        await gotoPage(page, url, 'containers');
        cid = (await page.getAttribute('[data-testid="container-row"]', 'data-container-id').catch(() => null)) ?? undefined;
      }
      await gotoPage(page, url, 'containers', cid);
      if (cid) {
        const canvas = await page.waitForSelector('[data-testid="activity-chart"] canvas', { timeout: 10000 }).catch(() => null);
        const box = canvas ? await canvas.boundingBox() : null;
        const fine = box !== null && box.width > 0 && box.height > 0;
        if (container || !fine) check.ok(fine, `containers/${cid} at ${size}: the uPlot canvas is there (${box ? `${Math.round(box.width)}x${Math.round(box.height)}` : 'none'})`);
        const row = await page.$(`[data-testid="container-row"][data-container-id="${cid}"]`);
        if (container) check.ok(row !== null, `container ${cid} is listed`);
      }
      await screenshot(page, out, `containers-${size}`, shots);
      for (const name of ['integrity', 'rules']) {
        await gotoPage(page, url, name);
        await screenshot(page, out, `${name}-${size}`, shots);
      }
      if (viewport === NARROW) {
        for (const name of PAGES) {
          await gotoPage(page, url, name);
          const over = await horizontalOverflow(page);
          check.ok(over <= 1, `${name} at ${size}: no horizontal overflow (${over} px)`);
        }
        const menu = await page.isVisible('.menu-button');
        check.ok(menu, `the navigation collapses behind a menu button at ${size}`);
        await page.click('.menu-button');
        await screenshot(page, out, `menu-open-${size}`, shots);
        await page.click('.nav a[data-page="alerts"]');
      }
    }
  } finally {
    const list = problemList(problems);
    result.problems = list;
    check.ok(list.length === 0, `no console errors, page errors or failed requests${list.length ? `:\n  ${list.join('\n  ')}` : ''}`);
    await context.close();
  }
  return result;
}
