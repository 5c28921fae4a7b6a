#!/usr/bin/env node
// End-to-end test of the dashboard alone, against dashboard/mock/server.mjs (CTest
// dashboard_mock_e2e):
//
//   node tests/e2e/dashboard_mock_e2e.mjs --dist <build>/dashboard/dist --out DIR [--node-modules DIR]
//
// Runs the main flow of dashboard_e2e.mjs (trigger: POST /mock/emit) and then what only the
// mock can set up: filters and "older" paging, an empty state, every API call failing (error
// banner, page not blank, both sizes) and a token demanded (401 -> prompt -> works).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import {
  parseArgs, loadPlaywright, launch, mainFlow, Check, newWatchedPage, gotoPage, screenshot, problemList,
  horizontalOverflow, repoRoot, PAGES, WIDE, NARROW,
} from './lib.mjs';

const RULE = 'E2E mock rule';
const CONTAINER = '3f2a1b4c5d6e';

function startMock(dist) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'dashboard', 'mock', 'server.mjs'), '--port', '0', '--dist', dist], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buf = '';
    const timer = setTimeout(() => reject(new Error('the mock did not start within 10 s')), 10000);
    child.stdout.on('data', (d) => {
      buf += d;
      const line = buf.split('\n').find((l) => l.includes('"listening"'));
      if (line) {
        clearTimeout(timer);
        resolve({ child, url: JSON.parse(line).url });
      }
    });
    child.on('exit', (code) => reject(new Error(`the mock exited (${code})`)));
  });
}

async function control(base, what, body = {}) {
  const res = await fetch(`${base}/mock/${what}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`POST /mock/${what}: HTTP ${res.status}`);
  return res.json();
}

async function filtersAndPaging(browser, url, check, out, shots) {
  const { context, page, problems } = await newWatchedPage(browser, { viewport: WIDE });
  try {
    await gotoPage(page, url, 'alerts');
    const first = await page.$$('[data-testid="alert-row"]');
    check.ok(first.length === 100, `the first page shows 100 alerts (${first.length})`);
    const ids = await page.$$eval('[data-testid="alert-row"]', (rows) => rows.map((r) => Number(r.getAttribute('data-alert-id'))));
    check.ok(ids.every((id, i) => i === 0 || ids[i - 1] > id), 'alerts are newest first');
    await page.click('[data-testid="older"]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="alert-row"]').length > 100, null, { timeout: 10000 }).catch(() => null);
    const all = await page.$$eval('[data-testid="alert-row"]', (rows) => rows.map((r) => r.getAttribute('data-alert-id')));
    check.ok(all.length > 100 && new Set(all).size === all.length, `"Older alerts" appends the next page without duplicates (${all.length} rows)`);

    await page.selectOption('[data-testid="filter-priority"]', 'critical');
    await page.waitForFunction(() => !document.querySelector('main .loading'));
    await page.waitForTimeout(200);
    const prios = await page.$$eval('[data-testid="alert-row"] .badge', (b) => b.map((x) => x.textContent));
    check.ok(prios.length > 0 && prios.every((p) => ['Emergency', 'Alert', 'Critical'].includes(p)), `priority ≥ Critical shows only red ones (${new Set(prios).size} kinds, ${prios.length} rows)`);
    await page.selectOption('[data-testid="filter-container"]', 'host');
    await page.waitForTimeout(300);
    const hosts = await page.$$eval('[data-testid="alert-row"] td:nth-child(4)', (c) => c.map((x) => x.textContent));
    check.ok(hosts.length > 0 && hosts.every((h) => h === 'host'), `container filter "host" (${hosts.length} rows)`);
    // A live alert that does not match the filters must not show up.
    await control(url, 'emit', { rule: 'Filtered out rule', priority: 'Notice', container: CONTAINER });
    await page.waitForTimeout(500);
    check.ok((await page.$('[data-testid="alert-row"][data-rule="Filtered out rule"]')) === null, 'a live alert outside the filters is not shown');
    await page.fill('[data-testid="filter-rule"]', 'No such rule');
    await page.press('[data-testid="filter-rule"]', 'Enter');
    await page.waitForSelector('[data-testid="alert-list"] [data-testid="empty"]', { timeout: 5000 }).catch(() => null);
    check.ok(await page.isVisible('[data-testid="alert-list"] [data-testid="empty"]'), 'a filter matching nothing shows an empty state');
    await screenshot(page, out, 'alerts-filtered-empty-1280x800', shots);
    await page.click('form.filters button.ghost');
    await page.waitForSelector('[data-testid="alert-row"]');
    const list = problemList(problems);
    check.ok(list.length === 0, `filters and paging: no console errors or failed requests${list.length ? `: ${list.join('; ')}` : ''}`);
  } finally {
    await context.close();
  }
}

async function failingApi(browser, url, check, out, shots) {
  await control(url, 'fail', { fail: true });
  const { context, page } = await newWatchedPage(browser, { viewport: WIDE });
  try {
    for (const viewport of [WIDE, NARROW]) {
      await page.setViewportSize(viewport);
      const size = `${viewport.width}x${viewport.height}`;
      for (const name of PAGES) {
        await page.goto(`${url}/#/${name}`, { waitUntil: 'load' });
        await page.waitForSelector('[data-testid="error-banner"]:not([hidden])', { timeout: 10000 }).catch(() => null);
        const banner = await page.isVisible('[data-testid="error-banner"]');
        const text = banner ? await page.textContent('[data-testid="error-banner"]') : '';
        const body = await page.evaluate(() => document.body.innerText.trim().length);
        check.ok(banner && text.includes('500'), `API failing, ${name} at ${size}: the error banner shows the 500`);
        check.ok(body > 40 && (await page.isVisible('header.top')), `API failing, ${name} at ${size}: the page is not blank (${body} chars)`);
        if (name === 'alerts' || name === 'containers') await screenshot(page, out, `error-${name}-${size}`, shots);
        if (viewport === NARROW) check.ok((await horizontalOverflow(page)) <= 1, `API failing, ${name} at ${size}: no horizontal overflow`);
      }
    }
    // Recovery: Retry after the API is back clears the banner and loads the page.
    await control(url, 'fail', { fail: false });
    await page.setViewportSize(WIDE);
    await page.goto(`${url}/#/alerts`, { waitUntil: 'load' });
    await page.waitForSelector('[data-testid="alert-row"]', { timeout: 10000 }).catch(() => null);
    check.ok(!(await page.isVisible('[data-testid="error-banner"]')) && (await page.$('[data-testid="alert-row"]')) !== null, 'with the API back, alerts load and no banner shows');
  } finally {
    await control(url, 'fail', { fail: false });
    await context.close();
  }
}

async function tokenPrompt(browser, url, check, out, shots) {
  await control(url, 'token', { token: 's3cret-token' });
  const { context, page } = await newWatchedPage(browser, { viewport: WIDE });
  try {
    await page.goto(`${url}/#/alerts`, { waitUntil: 'load' });
    const prompt = await page.waitForSelector('[data-testid="token-prompt"]', { timeout: 10000 }).catch(() => null);
    check.ok(prompt !== null, '401 shows the token prompt');
    await screenshot(page, out, 'token-prompt-1280x800', shots);
    await page.fill('[data-testid="token-input"]', 's3cret-token');
    await page.press('[data-testid="token-input"]', 'Enter');
    await page.waitForSelector('[data-testid="alert-row"]', { timeout: 10000 }).catch(() => null);
    check.ok((await page.$('[data-testid="alert-row"]')) !== null, 'with the token, alerts load');
    const stream = await page.waitForFunction(() => document.body.dataset.stream === 'open', null, { timeout: 10000 }).then(() => true).catch(() => false);
    check.ok(stream, 'with the token (?token=), the stream opens');
    const stored = await page.evaluate(() => localStorage.getItem('vigil.token'));
    check.ok(stored === 's3cret-token', 'the token is kept in localStorage');
    await control(url, 'emit', { rule: 'After token', container: CONTAINER });
    const live = await page.waitForSelector('[data-testid="alert-row"][data-rule="After token"]', { timeout: 5000 }).catch(() => null);
    check.ok(live !== null, 'live alerts arrive on the authenticated stream');
  } finally {
    await control(url, 'token', { token: null });
    await context.close();
  }
}

async function main() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 20) {
    console.error(`dashboard_mock_e2e: SKIP: playwright-core needs node >= 20, this is ${process.versions.node}`);
    return 77;
  }
  const args = parseArgs(process.argv.slice(2), { dist: 'value', out: 'value', 'node-modules': 'value', 'within-ms': 'value' });
  const dist = path.resolve(args.dist ?? path.join(repoRoot, 'dashboard', 'dist'));
  if (!fs.existsSync(path.join(dist, 'index.html'))) {
    console.error(`dashboard_mock_e2e: no built dashboard in ${dist} (build the vigil_dashboard target, or npm run build)`);
    return 1;
  }
  const out = path.resolve(args.out ?? fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-dashboard-e2e-')));
  fs.mkdirSync(out, { recursive: true });
  const playwright = loadPlaywright(args['node-modules']);
  const mock = await startMock(dist);
  const browser = await launch(playwright);
  const check = new Check();
  const shots = [];
  let result = {};
  try {
    const emit = `"${process.execPath}" -e "fetch('${mock.url}/mock/emit',{method:'POST',headers:{'content-type':'application/json'},body:JSON.stringify({rule:'${RULE}',priority:'Critical',container:'${CONTAINER}'})}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"`;
    result = await mainFlow(browser, {
      url: mock.url, out, trigger: emit, expectRule: RULE, container: CONTAINER, withinMs: args['within-ms'] ?? 2000,
    }, check, shots);
    await filtersAndPaging(browser, mock.url, check, out, shots);
    await failingApi(browser, mock.url, check, out, shots);
    await tokenPrompt(browser, mock.url, check, out, shots);
  } catch (err) {
    check.ok(false, `unexpected error: ${err?.stack ?? err}`);
  } finally {
    await browser.close();
    mock.child.kill('SIGTERM');
  }
  const ok = check.failures.length === 0;
  console.log(JSON.stringify({ test: 'dashboard_mock_e2e', ok, ...result, out, passed: check.passed.length, failed: check.failures, screenshots: shots.length }));
  console.log(`dashboard_mock_e2e: ${check.passed.length} passed, ${check.failures.length} failed`);
  if (!ok) console.error(`dashboard_mock_e2e: FAIL\n  ${check.failures.join('\n  ')}`);
  return ok ? 0 : 1;
}

process.exitCode = await main().catch((err) => {
  console.error(`dashboard_mock_e2e: ${err?.stack ?? err}`);
  return 1;
});
