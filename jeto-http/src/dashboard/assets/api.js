// The documented API, with the key of this browser session or the identity provider's sign-in.

const KEY = 'jeto.key';
const CSRF_COOKIE = 'jeto_csrf';

function cookie(name) {
  for (const pair of document.cookie.split(';')) {
    const [key, ...value] = pair.trim().split('=');
    if (key === name) return value.join('=') || null;
  }
  return null;
}

/**
 * Who this page acts for: an access key, kept for this browser session only (sessionStorage,
 * never a cookie), or a sign-in with the identity provider (an HttpOnly session cookie the page
 * never sees, and its CSRF token, which the page sends back with every request).
 */
export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  get csrf() { return cookie(CSRF_COOKIE); },
  get signedIn() { return Boolean(this.key || this.csrf); },
  signIn(key) { sessionStorage.setItem(KEY, key); },
  signOut() {
    sessionStorage.removeItem(KEY);
    const csrf = this.csrf;
    if (csrf) {
      document.cookie = `${CSRF_COOKIE}=; Max-Age=0; Path=/`;
      fetch('/auth/logout', { method: 'POST', headers: { 'X-Jeto-Csrf': csrf } }).catch(() => {});
    }
  },
};

/** What a failed call says: the HTTP status (0: not reached), the API's code and message. */
export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }

  /** What a person can do about it. */
  get advice() {
    switch (this.status) {
      case 0: return 'The server cannot be reached. It may be restarting: this page keeps trying.';
      case 401: return 'The key or sign-in was refused. Sign in again.';
      case 403: return 'This key is not allowed to do that. Ask an admin to grant it.';
      case 404: return 'It does not exist, or this key cannot see it.';
      case 409: return 'Not possible in the current state: see the message, then try again.';
      case 429: return 'Too much is queued already. Wait for running commands to finish, then retry.';
      case 502: return 'Vagrant ran and failed: the console below says why.';
      case 503: return 'Vagrant, or the worker of this host, is not available right now. Retry in a moment.';
      case 504: return 'It took too long and was stopped.';
      default: return this.status >= 500 ? 'The server failed. Retry, and tell an admin if it persists.' : 'Check what you entered.';
    }
  }
}

function headers(json) {
  const h = {};
  if (session.key) h['X-JETO-KEY'] = session.key;
  else if (session.csrf) h['X-Jeto-Csrf'] = session.csrf;
  if (json) h['Content-Type'] = 'application/json';
  return h;
}

/** Calls the API; the parsed JSON answer, or throws an ApiError. */
export async function api(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: headers(body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'unreachable', 'The Jeto server did not answer.');
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    const error = data && data.error;
    throw new ApiError(
      response.status,
      (error && error.code) || `http_${response.status}`,
      (error && error.message) || text || response.statusText,
      data,
    );
  }
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body);
export const put = (path, body) => api('PUT', path, body);
export const patch = (path, body) => api('PATCH', path, body);
export const del = (path) => api('DELETE', path);

/**
 * Follows the event log (`GET /api/events`, Server-Sent Events read through fetch, so the key
 * header goes along): `onEvent(type, data)` for each event, from now, until `signal` aborts.
 * Reconnects by itself after a drop, from the last event received (`Last-Event-ID`), so none is
 * lost or repeated; `onGap()` when the server no longer has what was missed. Rejects with an
 * ApiError the server refused (401, 429...): the caller falls back to polling.
 */
export async function followEvents(query, onEvent, onGap, signal, onConnection = () => {}) {
  let last = null;
  let dropped = false;
  for (;;) {
    try {
      const h = headers(false);
      let url = `/api/events${query}`;
      if (last !== null) {
        // Resume after the last event received (`after` in the query would win over the header).
        h['Last-Event-ID'] = String(last);
        const params = new URLSearchParams(query.replace(/^\?/, ''));
        params.set('after', String(last));
        url = `/api/events?${params}`;
      }
      const response = await fetch(url, { headers: h, signal, cache: 'no-store' });
      if (!response.ok) {
        const body = await response.text();
        let message = body;
        try { message = JSON.parse(body).error.message; } catch { /* plain text */ }
        throw new ApiError(response.status, `http_${response.status}`, message);
      }
      onConnection(true);
      // Back after a drop: what happened meanwhile comes next; the caller may read afresh too.
      if (dropped) onGap();
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let id = null; let type = null; let data = null;
          for (const line of frame.split('\n')) {
            if (line.startsWith('id: ')) id = Number(line.slice(4));
            else if (line.startsWith('event: ')) type = line.slice(7);
            else if (line.startsWith('data: ')) data = line.slice(6);
          }
          if (type === 'gap') onGap();
          else if (type && data) onEvent(type, JSON.parse(data));
          if (id !== null) last = id;
        }
      }
    } catch (error) {
      if (signal && signal.aborted) return;
      if (error instanceof ApiError && error.status !== 0 && error.status < 500) throw error;
    }
    if (signal && signal.aborted) return;
    dropped = true;
    onConnection(false);
    // Dropped (the server restarting): again shortly, from the last event received.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if (signal && signal.aborted) return;
  }
}

/**
 * Follows a command's console: `onText(all)` with the whole text so far on every chunk, until
 * the command ends or `signal` aborts. When the connection drops (the server restarting) it
 * resumes at the byte it had (`after`): nothing is repeated or lost. Resolves when the stream
 * ended normally.
 */
export async function followConsole(path, onText, signal) {
  let text = '';
  let received = 0;
  let decoder = new TextDecoder();
  for (;;) {
    try {
      const response = await fetch(`${path}?follow=true&after=${received}`, { headers: headers(false), signal, cache: 'no-store' });
      if (!response.ok) {
        const body = await response.text();
        let message = body;
        try { message = JSON.parse(body).error.message; } catch { /* plain text */ }
        throw new ApiError(response.status, `http_${response.status}`, message);
      }
      const reader = response.body.getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        received += value.length;
        // The decoder keeps a character cut between two pieces (or two connections).
        text += decoder.decode(value, { stream: true });
        onText(text);
      }
      onText(text + decoder.decode());
      decoder = new TextDecoder();
      return;
    } catch (error) {
      if (signal && signal.aborted) return;
      if (error instanceof ApiError && error.status !== 0 && error.status < 500) throw error;
      // The server went away mid-stream: try again shortly, from the byte reached.
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}
