// The error banner and the token prompt, shared by every page.
import { ApiError, setToken, getToken } from './api';
import { h, clear } from './dom';

let bannerEl: HTMLElement | null = null;
let retryHandler: (() => void) | null = null;

export function mountBanner(el: HTMLElement, onRetry: () => void): void {
  bannerEl = el;
  retryHandler = onRetry;
}

export function describe(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 0) return `Network error: ${err.message} — ${err.path}`;
    return `API error ${err.message} — ${err.path}`;
  }
  return err instanceof Error ? err.message : String(err);
}

const shown = new Set<string>();

export function showError(err: unknown): void {
  if (!bannerEl) return;
  const text = describe(err);
  if (shown.has(text)) return;
  shown.add(text);
  bannerEl.hidden = false;
  if (!bannerEl.querySelector('ul')) {
    clear(bannerEl);
    bannerEl.append(
      h('strong', null, 'The dashboard could not load everything'),
      h('ul'),
      h(
        'div',
        { class: 'banner-actions' },
        h('button', { type: 'button', onclick: () => { clearErrors(); retryHandler?.(); } }, 'Retry'),
        h('button', { type: 'button', class: 'ghost', onclick: () => clearErrors() }, 'Dismiss'),
      ),
    );
  }
  bannerEl.querySelector('ul')?.append(h('li', null, text));
}

export function clearErrors(): void {
  shown.clear();
  if (!bannerEl) return;
  clear(bannerEl);
  bannerEl.hidden = true;
}

let promptOpen = false;

export function promptToken(onSaved: () => void): void {
  if (promptOpen) return;
  promptOpen = true;
  const input = h('input', {
    type: 'password',
    name: 'token',
    autocomplete: 'off',
    placeholder: 'console token',
    'data-testid': 'token-input',
  });
  const dialog = h(
    'div',
    { class: 'modal-backdrop', 'data-testid': 'token-prompt' },
    h(
      'form',
      { class: 'modal', method: 'dialog' },
      h('h2', null, 'Token required'),
      h(
        'p',
        null,
        'The agent answered 401. Paste the token from ',
        h('code', null, '<state_dir>/console.token'),
        ' (requests from the agent\u2019s own host need none).',
      ),
      getToken() ? h('p', { class: 'hint' }, 'The stored token was refused.') : null,
      input,
      h('div', { class: 'banner-actions' }, h('button', { type: 'submit' }, 'Save token')),
    ),
  );
  dialog.querySelector('form')?.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const value = input.value.trim();
    if (!value) return;
    setToken(value);
    dialog.remove();
    promptOpen = false;
    clearErrors();
    onSaved();
  });
  document.body.append(dialog);
  input.focus();
}
