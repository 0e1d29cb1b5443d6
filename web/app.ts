// The web page of `colloquy serve`: chat with login by name, and a live view of the server's
// sessions with a frame ladder for the chosen one.
//
// Theory of operation
//   - Login: GET /api/me says who this browser is (the HttpOnly session cookie); the form posts
//     the name to /api/login. The WebSocket upgrade carries the same cookie, so the server knows
//     the real-time session belongs to that login.
//   - Chat: ChatClient (src/apps/chat-client.ts), the real engine bundled for the browser, over
//     the browser's own WebSocket to ws(s)://this-host/session. The session's machine snapshot
//     is written to sessionStorage before anything leaves or is shown (write-ahead, see
//     ./snapshot-storage.ts), so a reload resumes the same session: nothing lost, nothing
//     repeated. The transcript shown is kept there too (bounded), since a resumed session is
//     not welcomed again.
//   - The chat's listeners are attached as the ChatClient is created (`onClient`), before
//     connect() resolves: the welcome and the room's history arrive with the ACCEPT, and a
//     resumed session's replayed messages with the RESUMED.
//   - Live view: /api/sessions every second while the tab is visible (a session whose transport
//     is gone shows as waiting to resume: a closed or reloading tab); clicking a session opens an
//     EventSource on /api/sessions/ID/frames and draws its frames as a sequence diagram
//     (./ladder.ts; the server taps that session only while someone watches).

import { ChatClient } from '../src/apps/chat-client.js';
import type { ChatMessage } from '../src/apps/chat-client.js';
import type { ClientSession } from '../src/client/connect.js';
import { SessionError } from '../src/engine/errors.js';
import { Ladder } from './ladder.js';
import type { LadderFrame } from './ladder.js';
import { decodeSnapshot, encodeSnapshot } from './snapshot-storage.js';
import type {} from '../src/store/errors.js';

const SNAPSHOT_KEY = 'colloquy.chat.snapshot';
const TRANSCRIPT_KEY = 'colloquy.chat.transcript';
/** Lines kept on screen and in sessionStorage. */
const MAX_TRANSCRIPT = 200;
/** Frames drawn in the ladder. */
const MAX_LADDER_ROWS = 300;
const POLL_MS = 1000;
/** Tries to resume after a reload before joining afresh (backoff up to 5 s: about two minutes, the default resume window). */
const RESUME_ATTEMPTS = 30;
const ROOM = 'lobby';

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
};

interface Line {
  kind: 'message' | 'system';
  from?: string;
  text: string;
  id?: string;
  history?: boolean;
}

let chat: ChatClient | null = null;
let me: string | null = null;
let transcript: Line[] = [];
let chosen: string | null = null;
/** True once the user clicked a row: the ladder then stays on that session, not on their own. */
let pickedByHand = false;
let frames: EventSource | null = null;
let pollTimer: ReturnType<typeof setTimeout> | null = null;
let ladder: Ladder | null = null;

async function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(path, {
    credentials: 'same-origin',
    ...init,
    headers: { 'content-type': 'application/json', ...(init.headers ?? {}) },
  });
}

function sessionUrl(): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/session`;
}

// -- transcript -------------------------------------------------------------------------------

function loadTranscript(): Line[] {
  try {
    const parsed = JSON.parse(sessionStorage.getItem(TRANSCRIPT_KEY) ?? '[]') as Line[];
    return Array.isArray(parsed) ? parsed.slice(-MAX_TRANSCRIPT) : [];
  } catch {
    return [];
  }
}

function addLine(line: Line): void {
  transcript.push(line);
  if (transcript.length > MAX_TRANSCRIPT) transcript = transcript.slice(-MAX_TRANSCRIPT);
  sessionStorage.setItem(TRANSCRIPT_KEY, JSON.stringify(transcript));
  drawLine(line);
}

function drawLine(line: Line): void {
  const list = $<HTMLOListElement>('messages');
  const li = document.createElement('li');
  if (line.kind === 'system') {
    li.className = 'system';
    li.textContent = line.text;
  } else {
    if (line.history) li.classList.add('history');
    if (line.id) li.dataset.id = line.id;
    li.dataset.from = line.from ?? '';
    const from = document.createElement('span');
    from.className = 'from';
    from.textContent = line.from ?? '';
    const text = document.createElement('span');
    text.className = 'text';
    text.textContent = line.text;
    li.append(from, text);
  }
  list.append(li);
  while (list.childElementCount > MAX_TRANSCRIPT) list.firstElementChild?.remove();
  list.scrollTop = list.scrollHeight;
}

function setStatus(state: string, text: string): void {
  const s = $('status');
  s.dataset.state = state;
  s.textContent = text;
}

// -- chat -------------------------------------------------------------------------------------

async function startChat(name: string): Promise<void> {
  $('chat').hidden = false;
  transcript = loadTranscript();
  $('messages').replaceChildren();
  for (const line of transcript) drawLine(line);
  const saved = decodeSnapshot(sessionStorage.getItem(SNAPSHOT_KEY), name);
  let client: ChatClient | null = null;
  // Resume the session of before the reload: retried while the server cannot be reached (the
  // session waits there for its resume window); given up when the server no longer has it.
  for (let attempt = 0; saved && !client; attempt++) {
    setStatus('connecting', 'resuming the session of before the reload…');
    try {
      // Lines the replay brings arrive before connect() resolves: shown after the resume note.
      const early: Line[] = [];
      const resumedLine = { done: false };
      client = await ChatClient.connect(sessionUrl(), {
        nick: name,
        room: ROOM,
        resume: saved,
        onSession: (s) => keep(s, name),
        onClient: (c) => listen(c, (line) => (resumedLine.done ? addLine(line) : early.push(line))),
      });
      addLine({ kind: 'system', text: `resumed session ${client.session.id.slice(0, 8)}… after the reload` });
      resumedLine.done = true;
      for (const line of early) addLine(line);
    } catch (e) {
      const refused = (e as { code?: string }).code === 'ERR_RESUME_REFUSED';
      if (refused || attempt + 1 >= RESUME_ATTEMPTS) {
        sessionStorage.removeItem(SNAPSHOT_KEY);
        addLine({ kind: 'system', text: `could not resume (${(e as Error).message}); joining afresh` });
        break;
      }
      setStatus('interrupted', `cannot reach the server (${(e as Error).message}); trying again…`);
      await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** attempt)));
    }
  }
  if (!client) {
    setStatus('connecting', 'connecting…');
    try {
      client = await ChatClient.connect(sessionUrl(), {
        nick: name,
        room: ROOM,
        onSession: (s) => keep(s, name),
        onClient: (c) => listen(c, addLine),
      });
    } catch (e) {
      setStatus('closed', `cannot join: ${(e as Error).message}`);
      return;
    }
  }
  bindChat(client, name);
}

/**
 * Keeps the session's state in sessionStorage, write-ahead: installed before the first transport,
 * so every byte sent and every event shown is covered by a stored snapshot.
 */
function keep(session: ClientSession, name: string): void {
  session.driver.durability = {
    persist: async (snapshot) => {
      sessionStorage.setItem(SNAPSHOT_KEY, encodeSnapshot(name, snapshot));
    },
    // sessionStorage full or disabled: the session cannot be kept across a reload; it ends.
    failed: (error) =>
      new SessionError('ERR_STORE_UNAVAILABLE', `cannot keep the session in sessionStorage: ${error.message}`, 'local'),
  };
}

/**
 * The chat's listeners, attached as the client is created (before connect() resolves, so the
 * welcome and the history are seen). Status and closing only count for the client in use (a
 * failed resume attempt's client closes too).
 */
function listen(client: ChatClient, show: (line: Line) => void): void {
  client.on('welcome', (w) =>
    show({ kind: 'system', text: `joined #${w.room} as ${w.nick}; here: ${w.members.join(', ') || 'nobody else'}` }),
  );
  client.on('message', (m: ChatMessage & { history: boolean }) =>
    show({ kind: 'message', from: m.from, text: m.text, id: m.id, history: m.history }),
  );
  client.on('join', (j) => {
    if (j.nick !== client.nick) show({ kind: 'system', text: `${j.nick} joined` });
  });
  client.on('leave', (l) =>
    show({ kind: 'system', text: `${l.nick} left${l.reason === 'left' ? '' : ` (${l.reason})`}` }),
  );
  client.on('notice', (n) => show({ kind: 'system', text: `server: ${n.message}` }));
  client.on('interrupted', () => {
    if (chat === client)
      setStatus('interrupted', 'connection lost: reconnecting (what you type is kept and sent once)…');
  });
  client.on('resumed', ({ replayed }) => {
    if (chat === client) setStatus('resumed', `resumed on a new connection (${replayed} frame(s) replayed)`);
  });
  client.on('closed', ({ error }) => {
    if (chat !== client) return;
    sessionStorage.removeItem(SNAPSHOT_KEY);
    setStatus('closed', error ? `session ended: ${error.message}` : 'session released');
    chat = null;
  });
}

function bindChat(client: ChatClient, name: string): void {
  chat = client;
  const session = client.session;
  try {
    sessionStorage.setItem(SNAPSHOT_KEY, encodeSnapshot(name, session.machine.snapshot()));
  } catch {
    /* closed already */
  }
  $('session-id').textContent = session.id;
  ($('session-id') as HTMLElement).dataset.id = session.id;
  // The ladder follows the user's own session (a new one after a failed resume too) until they pick another.
  if (!pickedByHand && chosen !== session.id) {
    if (frames) choose(session.id);
    else chosen = session.id;
  }
  setStatus('established', `connected as ${client.nick || name}`);
  if (session.closed) {
    chat = null;
    setStatus('closed', 'session ended');
    return;
  }
  $<HTMLInputElement>('chat-input').focus();
}

async function say(text: string): Promise<void> {
  if (!chat) return;
  try {
    await chat.send(text);
  } catch (e) {
    addLine({ kind: 'system', text: `not sent: ${(e as Error).message}` });
  }
}

// -- live view --------------------------------------------------------------------------------

interface Row {
  id: string;
  service: string | null;
  name: string | null;
  transport: string | null;
  state: string;
  resumes: number;
  tokens: string[];
  serial: number | null;
  bytesIn: number | null;
  bytesOut: number | null;
}

/** Columns of the live table left out on a narrow screen: transport, resumes, tokens, serial, in, out. */
const NARROW_HIDDEN = new Set([3, 5, 6, 7, 8, 9]);

const fmtBytes = (n: number | null): string =>
  n === null
    ? '-'
    : n < 10_000
      ? String(n)
      : n < 10_000_000
        ? `${Math.round(n / 1024)}K`
        : `${Math.round(n / 1048576)}M`;

async function poll(): Promise<void> {
  pollTimer = null;
  if (document.visibilityState === 'visible' && me) {
    try {
      const res = await api('/api/sessions', { method: 'GET' });
      if (res.ok) drawSessions(((await res.json()) as { sessions: Row[] }).sessions);
    } catch {
      // the server is away (restart, network): try again at the next tick
    }
  }
  pollTimer = setTimeout(() => void poll(), POLL_MS);
}

function drawSessions(rows: Row[]): void {
  const body = $('sessions').querySelector('tbody') as HTMLTableSectionElement;
  const mine = chat?.session.id;
  body.replaceChildren(
    ...rows.map((r) => {
      const tr = document.createElement('tr');
      tr.dataset.id = r.id;
      if (r.id === chosen) tr.classList.add('chosen');
      if (r.id === mine) tr.classList.add('mine');
      // No transport: a tab that was closed or is reloading; the server keeps the session for its resume window.
      const waiting = r.transport === null && r.state !== 'closed';
      if (waiting) tr.classList.add('waiting');
      for (const [i, cell] of [
        r.id.slice(0, 8),
        r.service ?? '-',
        r.name ?? '-',
        r.transport ?? '(none)',
        waiting ? 'waiting to resume' : r.state,
        String(r.resumes),
        r.tokens.join(',') || '-',
        r.serial === null ? '-' : String(r.serial),
        fmtBytes(r.bytesIn),
        fmtBytes(r.bytesOut),
      ].entries()) {
        const td = document.createElement('td');
        if (NARROW_HIDDEN.has(i)) td.className = 'wide'; // hidden on a narrow screen
        td.textContent = cell;
        tr.append(td);
      }
      tr.addEventListener('click', () => {
        pickedByHand = true;
        choose(r.id);
      });
      return tr;
    }),
  );
  if (chosen && !frames) choose(chosen);
}

function choose(id: string): void {
  if (frames && chosen === id) return;
  frames?.close();
  chosen = id;
  $('ladder-id').textContent = id.slice(0, 8);
  ladder ??= new Ladder($('ladder'), MAX_LADDER_ROWS);
  ladder.reset();
  for (const tr of document.querySelectorAll('#sessions tbody tr'))
    tr.classList.toggle('chosen', (tr as HTMLElement).dataset.id === id);
  const source = new EventSource(`/api/sessions/${id}/frames`);
  frames = source;
  source.onmessage = (e: MessageEvent<string>) => ladder?.add(JSON.parse(e.data) as LadderFrame);
  source.addEventListener('end', () => {
    note('the session ended');
    source.close();
    if (frames === source) frames = null;
  });
  source.addEventListener('error', (e) => {
    const data = (e as MessageEvent<string>).data;
    if (data) note(`cannot watch: ${(JSON.parse(data) as { error: string }).error}`);
    source.close();
    if (frames === source) {
      frames = null;
      if (chosen === id) chosen = chat?.session.id ?? null;
    }
  });
}

function note(text: string): void {
  ladder?.note(text);
}

// -- login ------------------------------------------------------------------------------------

async function loggedIn(name: string): Promise<void> {
  me = name;
  $('login').hidden = true;
  $('who').hidden = false;
  $('who-name').textContent = name;
  $('live').hidden = false;
  if (pollTimer === null) void poll();
  await startChat(name);
}

async function main(): Promise<void> {
  $('login-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const name = $<HTMLInputElement>('login-name').value.trim();
    void (async () => {
      const res = await api('/api/login', { method: 'POST', body: JSON.stringify({ name }) });
      const body = (await res.json().catch(() => ({}))) as { name?: string; error?: string };
      if (!res.ok || !body.name) {
        $('login-error').textContent = body.error ?? `login failed (${res.status})`;
        return;
      }
      $('login-error').textContent = '';
      await loggedIn(body.name);
    })();
  });
  $('chat-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $<HTMLInputElement>('chat-input');
    const text = input.value;
    if (!text.trim()) return;
    input.value = '';
    void say(text);
  });
  $('cut').addEventListener('click', () => {
    const id = chat?.session.id;
    if (id) void api(`/api/sessions/${id}/cut`, { method: 'POST', body: '{}' });
  });
  $('logout').addEventListener('click', () => {
    void (async () => {
      const leaving = chat;
      chat = null;
      sessionStorage.removeItem(SNAPSHOT_KEY);
      sessionStorage.removeItem(TRANSCRIPT_KEY);
      await leaving?.close().catch(() => {});
      await api('/api/logout', { method: 'POST', body: '{}' });
      location.reload();
    })();
  });

  const res = await api('/api/me', { method: 'GET' });
  if (res.ok) {
    const { name } = (await res.json()) as { name: string };
    await loggedIn(name);
  } else {
    sessionStorage.removeItem(SNAPSHOT_KEY);
    sessionStorage.removeItem(TRANSCRIPT_KEY);
    $('login').hidden = false;
    $<HTMLInputElement>('login-name').focus();
  }
}

void main();
