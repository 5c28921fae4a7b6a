// The live alert stream (GET /api/stream, SSE). One EventSource for the whole app; the
// browser reconnects by itself and sends Last-Event-ID, so the agent replays what was missed.
// document.body.dataset.stream is "connecting", "open" or "error" (the e2e test waits on it).
import { streamUrl } from './api';
import type { Alert } from './types';

export type StreamState = 'connecting' | 'open' | 'error';
type AlertListener = (alert: Alert) => void;
type StateListener = (state: StreamState) => void;

const alertListeners = new Set<AlertListener>();
const stateListeners = new Set<StateListener>();
let source: EventSource | null = null;
let state: StreamState = 'connecting';
let retryTimer: number | undefined;
let lastId: number | undefined; // the newest alert id received

function setState(next: StreamState): void {
  state = next;
  document.body.dataset.stream = next;
  for (const fn of stateListeners) fn(next);
}

export function streamState(): StreamState {
  return state;
}

export function onAlert(fn: AlertListener): () => void {
  alertListeners.add(fn);
  return () => alertListeners.delete(fn);
}

export function onStreamState(fn: StateListener): () => void {
  stateListeners.add(fn);
  fn(state);
  return () => stateListeners.delete(fn);
}

export function connectStream(): void {
  if (retryTimer !== undefined) {
    window.clearTimeout(retryTimer);
    retryTimer = undefined;
  }
  source?.close();
  setState('connecting');
  const es = new EventSource(streamUrl(lastId));
  source = es;
  es.onopen = () => setState('open');
  es.onerror = () => {
    if (source !== es) return;
    setState('error');
    // CLOSED: the server refused (e.g. 401, 5xx) and the browser gives up; try again later.
    if (es.readyState === EventSource.CLOSED) {
      retryTimer = window.setTimeout(connectStream, 5000);
    }
  };
  es.addEventListener('alert', (ev) => {
    let alert: Alert;
    try {
      alert = JSON.parse((ev as MessageEvent<string>).data) as Alert;
    } catch {
      return;
    }
    if (typeof alert.id !== 'number') return;
    if (lastId === undefined || alert.id > lastId) lastId = alert.id;
    for (const fn of alertListeners) fn(alert);
  });
}
