#!/usr/bin/env node
// End-to-end test of the dashboard against a running agent (or the mock):
//
//   node tests/e2e/dashboard_e2e.mjs --url http://127.0.0.1:7373 --out /tmp/shots \
//     --trigger "cat /etc/shadow >/dev/null" --expect-rule "Read sensitive file" \
//     [--token T] [--container 3f2a1b4c5d6e] [--within-ms 2000] [--node-modules DIR]
//
// Opens the dashboard at 1280x800 in /usr/bin/chromium (headless), waits for the SSE stream,
// runs --trigger, and asserts a new alert row with --expect-rule appears within --within-ms of
// the trigger command finishing (both latencies reported); opens its detail (process tree);
// with --container, asserts its activity chart's canvas has a size; screenshots every page at
// 1280x800 and 390x844 into --out. Fails on console errors, page errors or failed requests.
// Prints one JSON summary line on stdout; exit code 0 when every check passed.
import fs from 'node:fs';
import { parseArgs, loadPlaywright, launch, mainFlow, Check } from './lib.mjs';

const USAGE = 'usage: dashboard_e2e.mjs --url BASE --out DIR --trigger CMD --expect-rule RULE [--token T] [--container ID] [--within-ms N] [--node-modules DIR]';

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2), {
      url: 'value', token: 'value', out: 'value', trigger: 'value', 'expect-rule': 'value',
      container: 'value', 'within-ms': 'value', 'node-modules': 'value', help: 'flag',
    });
  } catch (err) {
    console.error(`${err.message}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  for (const need of ['url', 'out', 'trigger', 'expect-rule']) {
    if (!args[need]) {
      console.error(`--${need} is required\n${USAGE}`);
      return 2;
    }
  }
  fs.mkdirSync(args.out, { recursive: true });
  const playwright = loadPlaywright(args['node-modules']);
  const browser = await launch(playwright);
  const check = new Check();
  const shots = [];
  let result = {};
  try {
    result = await mainFlow(browser, {
      url: args.url, token: args.token, out: args.out, trigger: args.trigger,
      expectRule: args['expect-rule'], container: args.container, withinMs: args['within-ms'] ?? 2000,
    }, check, shots);
  } catch (err) {
    check.ok(false, `unexpected error: ${err?.stack ?? err}`);
  } finally {
    await browser.close();
  }
  const ok = check.failures.length === 0;
  console.log(JSON.stringify({ test: 'dashboard_e2e', ok, ...result, passed: check.passed.length, failed: check.failures, screenshots: shots }));
  console.error(ok ? `dashboard_e2e: PASS (${check.passed.length} checks)` : `dashboard_e2e: FAIL\n  ${check.failures.join('\n  ')}`);
  return ok ? 0 : 1;
}

process.exitCode = await main().catch((err) => {
  console.error(`dashboard_e2e: ${err?.stack ?? err}`);
  return 1;
});
