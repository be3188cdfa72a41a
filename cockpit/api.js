// The OAG API as the Cockpit uses it: the company key (session storage
// only: never in a URL, gone with the tab or on sign-out), JSON calls with
// OpenAI-shaped errors, and the real-time WebSocket (docs/REALTIME.md).

const KEY_NAME = 'oag.cockpit.key';

export const auth = {
  get key() {
    try {
      return sessionStorage.getItem(KEY_NAME);
    } catch {
      return null;
    }
  },
  set(key) {
    sessionStorage.setItem(KEY_NAME, key);
  },
  clear() {
    try {
      sessionStorage.removeItem(KEY_NAME);
    } catch {}
  },
};

/** An API error: `status` 0 when OAG could not be reached. */
export class ApiError extends Error {
  constructor(status, message, { code = null, body = null } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

let unauthorizedHandler = null;
/** Called with the error when a signed-in call gets 401 (key revoked). */
export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

/**
 * Calls the API with the company key. Resolves with the parsed JSON body;
 * rejects with an ApiError carrying OAG's error message.
 */
export async function api(method, path, { body, headers = {}, key = auth.key, signal } = {}) {
  if (!key) throw new ApiError(401, 'You are not signed in.');
  const h = { authorization: `Bearer ${key}`, accept: 'application/json', ...headers };
  const init = { method, headers: h, cache: 'no-store', signal, credentials: 'omit', redirect: 'error' };
  if (body !== undefined) {
    h['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, `Cannot reach OAG (${e && e.message ? e.message : 'network error'}). Check your connection and that the gateway is running.`);
  }
  const text = await res.text();
  let json = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
  }
  if (!res.ok) {
    const e = json && json.error;
    const message = (e && typeof e.message === 'string' && e.message) || `${res.status} ${res.statusText || 'error'}`;
    const err = new ApiError(res.status, message, { code: e && e.code, body: json });
    if (res.status === 401 && key === auth.key && unauthorizedHandler) unauthorizedHandler(err);
    throw err;
  }
  if (json === null && text) throw new ApiError(res.status, 'OAG answered something that is not JSON.');
  return json;
}

export const ASSISTANTS_BETA = { 'OpenAI-Beta': 'assistants=v2' };

/** Opens a real-time WebSocket, authenticated with a fresh single-use token. */
export async function openRealtime() {
  const { token } = await api('POST', '/v1/realtime/tokens');
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return new WebSocket(`${proto}//${location.host}/v1/realtime/chat?token=${encodeURIComponent(token)}`);
}

/**
 * The live approvals feed: one WebSocket subscribed to `approvals`,
 * reconnected with a growing delay while signed in. `state` is
 * 'connecting', 'live' or 'down'; listeners get every event.
 */
export class LiveFeed {
  constructor() {
    this.state = 'down';
    this.ws = null;
    this.listeners = new Set();
    this.stateListeners = new Set();
    this.retryMs = 1000;
    this.timer = null;
    this.stopped = true;
    this.lastError = null;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.onerror = null;
      ws.onmessage = null;
      try {
        ws.close(1000, 'signed out');
      } catch {}
    }
    this.setState('down');
  }

  onEvent(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  onState(fn) {
    this.stateListeners.add(fn);
    return () => this.stateListeners.delete(fn);
  }

  setState(s) {
    if (this.state === s) return;
    this.state = s;
    for (const fn of this.stateListeners) fn(s);
  }

  async connect() {
    if (this.stopped) return;
    this.setState('connecting');
    let ws;
    try {
      ws = await openRealtime();
    } catch (e) {
      this.lastError = e;
      return this.retry();
    }
    if (this.stopped) {
      ws.close(1000);
      return;
    }
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: 'subscribe', events: ['approvals'] }));
    ws.onmessage = (m) => {
      let ev;
      try {
        ev = JSON.parse(m.data);
      } catch {
        return;
      }
      if (ev.type === 'subscribed') {
        this.retryMs = 1000;
        this.setState('live');
      } else if (ev.type === 'subscription.ended') {
        ws.close(1000);
      }
      for (const fn of this.listeners) fn(ev);
    };
    ws.onclose = () => {
      if (this.ws === ws) this.ws = null;
      this.retry();
    };
    ws.onerror = () => {};
  }

  retry() {
    if (this.stopped) return;
    this.setState('down');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, 30000);
  }
}
