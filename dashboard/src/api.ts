// The agent's JSON API (docs/api.md): one fetch wrapper that adds the bearer token and turns
// every failure into an ApiError, so the pages can show it instead of going blank.

const TOKEN_KEY = 'vigil.token';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number, // 0: no HTTP answer (network failure)
    readonly path: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function getToken(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token: string | null): void {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage unavailable (private mode): the token lasts for this page only.
  }
}

type UnauthorizedHandler = () => void;
const unauthorizedHandlers: UnauthorizedHandler[] = [];
export function onUnauthorized(fn: UnauthorizedHandler): void {
  unauthorizedHandlers.push(fn);
}

export type Query = Record<string, string | number | null | undefined | (string | number)[]>;

export function withQuery(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === null || value === undefined || value === '') continue;
    for (const v of Array.isArray(value) ? value : [value]) params.append(key, String(v));
  }
  const s = params.toString();
  return s ? `${path}?${s}` : path;
}

export async function api<T>(path: string, query?: Query): Promise<T> {
  const url = withQuery(path, query);
  const headers: Record<string, string> = { Accept: 'application/json' };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(url, { headers });
  } catch (e) {
    throw new ApiError(`cannot reach the agent (${e instanceof Error ? e.message : String(e)})`, 0, url);
  }
  let body: unknown = null;
  const text = await res.text().catch(() => '');
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (!res.ok) {
    const detail =
      body && typeof body === 'object' && 'error' in body ? String((body as { error: unknown }).error) : res.statusText;
    if (res.status === 401) for (const fn of unauthorizedHandlers) fn();
    throw new ApiError(`${res.status} ${detail || 'error'}`, res.status, url);
  }
  if (body === null) throw new ApiError('the answer is not JSON', res.status, url);
  return body as T;
}

// EventSource cannot send headers: the token goes in the URL (docs/api.md, Access).
// since_id: after a reconnect that the browser did not do itself (no Last-Event-ID), the agent
// replays what came after the last alert seen.
export function streamUrl(sinceId?: number): string {
  const token = getToken();
  return withQuery('/api/stream', { token, since_id: sinceId });
}
