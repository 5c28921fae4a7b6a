#!/usr/bin/env node
// The dashboard's Flows page against a running agent with a network policy:
//
//   node tests/e2e/flows_e2e.mjs --url http://127.0.0.1:7373 --out /tmp/shots --policy NAME \
//     [--token T] [--node-modules DIR]
//
// Opens #/flows at 1280x800 and 390x844 in /usr/bin/chromium (headless) and asserts: a row of
// the policies table for --policy; at least one denied flow row; the verdict filter set to
// "deny" leaves only denied rows; a who-talks-to-whom row; no horizontal overflow at 390 px;
// no console errors, page errors or failed requests. Screenshots go to --out. Prints one JSON
// summary line on stdout; exit code 0 when every check passed.
import fs from 'node:fs';
import {
  parseArgs, loadPlaywright, launch, newWatchedPage, gotoPage, screenshot, horizontalOverflow, problemList, Check,
  WIDE, NARROW,
} from './lib.mjs';

async function main() {
  const args = parseArgs(process.argv.slice(2), { url: 'value', token: 'value', out: 'value', policy: 'value', 'node-modules': 'value' });
  for (const need of ['url', 'out', 'policy']) if (!args[need]) throw new Error(`--${need} is required`);
  fs.mkdirSync(args.out, { recursive: true });
  const browser = await launch(loadPlaywright(args['node-modules']));
  const check = new Check();
  const shots = [];
  let problems = [];
  try {
    for (const viewport of [WIDE, NARROW]) {
      const size = `${viewport.width}x${viewport.height}`;
      const { context, page, problems: seen } = await newWatchedPage(browser, { token: args.token, viewport });
      try {
        await gotoPage(page, args.url, 'flows');
        const policyRow = await page.$(`[data-testid="policy-row"][data-policy="${args.policy}"]`);
        check.ok(policyRow !== null, `${size}: policy ${args.policy} is in the policies table`);
        const denied = await page.$$('[data-testid="flow-row"][data-verdict="deny"]');
        check.ok(denied.length > 0, `${size}: ${denied.length} denied flow rows`);
        check.ok((await page.$$('[data-testid="talker-row"]')).length > 0, `${size}: who talks to whom has rows`);
        await page.selectOption('select[name="verdict"]', 'deny');
        await page.waitForFunction(() => {
          const rows = [...document.querySelectorAll('[data-testid="flow-row"]')];
          return rows.length > 0 && rows.every((r) => r.getAttribute('data-verdict') === 'deny');
        }, null, { timeout: 10000 }).then(() => check.ok(true, `${size}: the verdict filter leaves only denied rows`),
          () => check.ok(false, `${size}: the verdict filter leaves only denied rows`));
        if (viewport === NARROW) {
          const over = await horizontalOverflow(page);
          check.ok(over <= 1, `flows at ${size}: no horizontal overflow (${over} px)`);
        }
        await screenshot(page, args.out, `flows-${size}`, shots);
      } finally {
        problems = problems.concat(problemList(seen));
        await context.close();
      }
    }
  } finally {
    await browser.close();
  }
  check.ok(problems.length === 0, `no console errors, page errors or failed requests${problems.length ? `:\n  ${problems.join('\n  ')}` : ''}`);
  console.log(JSON.stringify({ test: 'flows_e2e', ok: check.failures.length === 0, failures: check.failures, shots }));
  return check.failures.length === 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (err) => {
  console.error(err?.stack ?? String(err));
  console.log(JSON.stringify({ test: 'flows_e2e', ok: false, failures: [String(err?.message ?? err)] }));
  process.exit(1);
});
