// vigil's dashboard: a header (navigation, health, stream state), an error banner and one page
// at a time, chosen by the hash: #/alerts[/ID], #/containers[/ID], #/integrity, #/rules, #/flows.
import './style.css';
import { api, ApiError, onUnauthorized } from './api';
import { h, clear, fmtDuration } from './dom';
import { connectStream, onStreamState } from './stream';
import { mountBanner, showError, clearErrors, promptToken } from './ui';
import type { Health } from './types';
import { alertsPage } from './pages/alerts';
import { containersPage } from './pages/containers';
import { integrityPage } from './pages/integrity';
import { rulesPage } from './pages/rules';
import { flowsPage } from './pages/flows';

export interface PageModule {
  title: string;
  mount(root: HTMLElement, arg: string | undefined): void;
  update?(arg: string | undefined): void;
  unmount?(): void;
}

const pages: Record<string, PageModule> = {
  alerts: alertsPage,
  containers: containersPage,
  integrity: integrityPage,
  rules: rulesPage,
  flows: flowsPage,
};

const navLinks = new Map<string, HTMLAnchorElement>();
const healthEl = h('div', { class: 'health', 'data-testid': 'health' }, 'health…');
const streamEl = h('span', { class: 'stream-state', 'data-testid': 'stream-state' }, 'stream');
const main = h('main', { id: 'page' });
const banner = h('div', { class: 'banner', role: 'alert', 'data-testid': 'error-banner', hidden: true });
const nav = h('nav', { class: 'nav', 'aria-label': 'Pages' });

for (const [name, page] of Object.entries(pages)) {
  const a = h('a', { href: `#/${name}`, 'data-page': name }, page.title);
  a.addEventListener('click', () => document.body.classList.remove('nav-open'));
  navLinks.set(name, a);
  nav.append(a);
}

const menuButton = h(
  'button',
  { type: 'button', class: 'menu-button', 'aria-label': 'Menu', 'aria-expanded': 'false' },
  h('span'),
  h('span'),
  h('span'),
);
menuButton.addEventListener('click', () => {
  const open = document.body.classList.toggle('nav-open');
  menuButton.setAttribute('aria-expanded', String(open));
});

const header = h(
  'header',
  { class: 'top' },
  h('a', { class: 'brand', href: '#/alerts' }, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'vigil'),
  menuButton,
  nav,
  h('div', { class: 'status' }, streamEl, healthEl),
);

document.body.append(header, banner, main);

let current: { name: string; page: PageModule } | null = null;

function parseHash(): { name: string; arg: string | undefined } {
  const raw = location.hash.replace(/^#\/?/, '');
  const [name = '', ...rest] = raw.split('/');
  const arg = rest.length ? decodeURIComponent(rest.join('/')) : undefined;
  return { name: name in pages ? name : 'alerts', arg };
}

function route(force = false): void {
  const { name, arg } = parseHash();
  const page = pages[name];
  if (!page) return;
  for (const [n, a] of navLinks) {
    if (n === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = `${page.title} — vigil`;
  if (!force && current && current.name === name && page.update) {
    page.update(arg);
    return;
  }
  current?.page.unmount?.();
  clearErrors();
  clear(main);
  main.className = '';
  main.dataset.page = name;
  document.body.dataset.page = name;
  current = { name, page };
  page.mount(main, arg);
}

function reloadAll(): void {
  void refreshHealth();
  connectStream();
  route(true);
}

async function refreshHealth(): Promise<void> {
  try {
    const health = await api<Health>('/api/health');
    clear(healthEl);
    const ok = health.status === 'ok';
    healthEl.className = `health ${ok ? 'ok' : 'bad'}`;
    const runtime = health.runtime;
    healthEl.append(
      h('span', { class: 'dot', 'aria-hidden': 'true' }),
      h('span', { class: 'health-main' }, `${health.hostname ?? 'agent'} · ${health.status}`),
      h(
        'span',
        { class: 'health-more' },
        [
          health.version ? `v${health.version}` : null,
          `up ${fmtDuration(health.uptime_s)}`,
          health.integrity ? `integrity ${health.integrity.enabled === false ? 'off' : (health.integrity.mode ?? 'on')}` : null,
          runtime ? `runtime ${runtime.enabled ? 'on' : 'off'}${runtime.error ? ` (${runtime.error})` : ''}` : null,
        ]
          .filter(Boolean)
          .join(' · '),
      ),
    );
    healthEl.title = JSON.stringify(health, null, 2);
  } catch (err) {
    healthEl.className = 'health bad';
    healthEl.textContent = err instanceof ApiError && err.status ? `health: HTTP ${err.status}` : 'agent unreachable';
    showError(err);
  }
}

onStreamState((state) => {
  streamEl.className = `stream-state ${state}`;
  streamEl.textContent = state === 'open' ? 'live' : state === 'connecting' ? 'connecting…' : 'stream down';
  streamEl.title = `alert stream: ${state}`;
});

onUnauthorized(() => promptToken(reloadAll));
mountBanner(banner, reloadAll);
window.addEventListener('hashchange', () => route());
window.addEventListener('unhandledrejection', (ev) => showError(ev.reason));

if (!location.hash) history.replaceState(null, '', '#/alerts');
void refreshHealth();
window.setInterval(() => void refreshHealth(), 30000);
connectStream();
route();
