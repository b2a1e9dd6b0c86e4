/*
 * chat-client.js: a browser client of the ngx_chat protocol (protocol.md,
 * version 1).  An ES module with no dependencies; types in chat-client.d.ts.
 *
 *   import { ChatClient } from './chat-client.js';
 *   const chat = new ChatClient({ origin: location.origin, token: getToken });
 *   chat.addEventListener('message', (ev) => show(ev.detail.message));
 *   chat.connect();
 *   await chat.join('lobby');
 *   chat.send('lobby', 'hello');
 *
 * What it keeps for the page:
 * - one connection to the origin it was given, and nothing else: the
 *   WebSocket and REST URLs are built from that origin and fixed paths,
 *   so nothing in a page's URL can point them at another server;
 * - reconnection with exponential backoff and jitter, at once when the
 *   browser says it is online again; rooms rejoined with since_rev, and a
 *   truncated replay filled in with history pages;
 * - each durable event delivered once (by rev, message seq and
 *   client_msg_id);
 * - an outbox in localStorage: a message written while offline is sent
 *   when the connection is back, also after a reload, and exactly once
 *   (its client_msg_id makes the server answer a retry with the first
 *   send's seq).
 */

const DURABLE = new Set(['message', 'edited', 'deleted', 'member', 'room']);
const RETRYABLE = new Set(['unavailable', 'rate_limited', 'internal',
                           'disconnected', 'timeout']);
const TYPING_EVERY = 2000;          /* the server passes one per 2 s */

export class ChatError extends Error {
    constructor(code, message, extra) {
        super(message || code);
        this.name = 'ChatError';
        this.code = code;
        if (extra) {
            Object.assign(this, extra);
        }
    }
}

/* The storage of the outbox: localStorage, one JSON array under a key. */
export class LocalOutboxStorage {
    constructor(key) {
        this.key = key;
    }

    load() {
        try {
            const v = JSON.parse(globalThis.localStorage.getItem(this.key));
            return Array.isArray(v) ? v : [];
        } catch (e) {
            return [];
        }
    }

    save(entries) {
        try {
            if (entries.length === 0) {
                globalThis.localStorage.removeItem(this.key);
            } else {
                globalThis.localStorage.setItem(this.key,
                                                JSON.stringify(entries));
            }
        } catch (e) {
            /* private mode or full: the outbox lives in memory only */
        }
    }
}

/* A plain origin ("https://host:port") or an error. */
function checkOrigin(origin) {
    let u;
    try {
        u = new URL(origin);
    } catch (e) {
        throw new TypeError('ChatClient: origin is not a URL: ' + origin);
    }
    if ((u.protocol !== 'http:' && u.protocol !== 'https:')
        || u.origin !== String(origin).replace(/\/$/, ''))
    {
        throw new TypeError('ChatClient: origin must be scheme://host[:port]');
    }
    return u.origin;
}

/* An absolute path resolved on the origin; anything leaving it throws. */
function onOrigin(origin, path) {
    if (typeof path !== 'string' || !path.startsWith('/')
        || path.startsWith('//') || path.includes('\\'))
    {
        throw new TypeError('ChatClient: not a path on the origin: ' + path);
    }
    const u = new URL(path, origin);
    if (u.origin !== origin) {
        throw new TypeError('ChatClient: path leaves the origin: ' + path);
    }
    return u;
}

function newId() {
    if (globalThis.crypto && crypto.randomUUID) {
        return crypto.randomUUID();
    }
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
}

/* The sub claim of a JWT, read without checking it (labels only). */
function tokenSub(token) {
    try {
        let p = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
        while (p.length % 4) {
            p += '=';
        }
        const c = JSON.parse(atob(p));
        return typeof c.sub === 'string' ? c.sub : null;
    } catch (e) {
        return null;
    }
}

export class ChatClient extends EventTarget {
    constructor(opts) {
        super();
        const o = opts || {};
        this.origin = checkOrigin(o.origin);
        const ws = onOrigin(this.origin, o.wsPath || '/chat/ws');
        ws.protocol = ws.protocol === 'https:' ? 'wss:' : 'ws:';
        this.wsUrl = ws.href;
        this.apiBase = onOrigin(this.origin,
                                (o.apiPath || '/chat/api').replace(/\/$/, ''));
        this.tokenSource = o.token;
        this.backoffMin = o.backoffMin || 500;
        this.backoffMax = o.backoffMax || 30000;
        this.pingInterval = o.pingInterval || 25000;
        this.pongTimeout = o.pongTimeout || 10000;
        this.historyPage = o.historyPage || 100;
        this.storage = o.storage === undefined
            ? new LocalOutboxStorage(o.storageKey || 'ngx_chat.outbox')
            : o.storage;

        this.state = 'idle';
        this.user = null;
        this.ws = null;
        this.nextId = 1;
        this.pending = new Map();       /* request id -> {resolve, reject} */
        this.rooms = new Map();         /* room id -> room state */
        this.attempt = 0;
        this.retryTimer = null;
        this.retryAt = 0;
        this.pingTimer = null;
        this.refreshTimer = null;
        this.skew = 0;
        this.wanted = false;
        this.authFailures = 0;
        this.lastClose = null;
        this.outboxEntries = this.storage ? this.storage.load() : [];
        this.inflight = new Set();      /* client_msg_ids sent on this socket */
        this.removed = new Set();       /* client_msg_ids acked or discarded */
        this.waiters = new Map();       /* client_msg_id -> [resolve, reject] */

        this._online = () => this._onOnline();
        this._offline = () => this._onOffline();
    }

    /* ---------------------------------------------------------- events */

    _emit(type, detail) {
        this.dispatchEvent(new CustomEvent(type, { detail }));
    }

    _setState(state, extra) {
        this.state = state;
        this._emit('state', Object.assign({ state, attempt: this.attempt },
                                          extra || {}));
    }

    /* ------------------------------------------------------ connection */

    connect() {
        this.wanted = true;
        if (typeof window !== 'undefined') {
            window.addEventListener('online', this._online);
            window.addEventListener('offline', this._offline);
        }
        if (!this.gen && this.retryTimer === null) {
            this._open('connect');
        }
    }

    close() {
        this.wanted = false;
        if (typeof window !== 'undefined') {
            window.removeEventListener('online', this._online);
            window.removeEventListener('offline', this._offline);
        }
        this._stop('closed by the client');
        this._setState('closed');
    }

    /* Reconnect now (a "retry now" button). */
    reconnect() {
        if (!this.wanted) {
            return;
        }
        this._stop('reconnect');
        this._open('connect');
    }

    /* No retry pending, no connection. */
    _stop(reason) {
        clearTimeout(this.retryTimer);
        this.retryTimer = null;
        this._drop(1000, reason);
    }

    async token(reason) {
        const src = this.tokenSource;
        const t = typeof src === 'function' ? await src(reason) : src;
        if (typeof t !== 'string' || t === '') {
            throw new ChatError('unauthenticated', 'no token');
        }
        return t;
    }

    async _open(reason) {
        let token;
        const gen = {};

        this.gen = gen;
        this._setState('connecting');
        try {
            token = await this.token(this.authFailures ? 'expired' : reason);
        } catch (e) {
            if (this.gen !== gen) {
                return;
            }
            this.gen = null;
            if (e.code === 'unauthenticated' || e.status === 401) {
                this.wanted = false;
                this._setState('unauthorized', { message: e.message });
            } else {
                /* the provider could not reach its server: later */
                this._retry(undefined, e.message);
            }
            return;
        }
        if (this.gen !== gen || !this.wanted) {
            return;
        }
        if (this.user === null) {
            this.user = tokenSub(token);
        }

        const ws = new WebSocket(this.wsUrl, 'chat.v1');
        this.ws = ws;
        ws.onopen = () => {
            this._request({ type: 'auth', token }, ws)
                .then((w) => this._welcome(ws, w), () => {});
        };
        ws.onmessage = (ev) => this._frame(ws, ev.data);
        ws.onclose = (ev) => this._closed(ws, ev.code, ev.reason);
        ws.onerror = () => {};
    }

    /* Detaches and closes the socket; the caller decides what next. */
    _drop(code, reason) {
        const ws = this.ws;

        this.gen = null;
        clearInterval(this.pingTimer);
        clearTimeout(this.refreshTimer);
        this.pingTimer = null;
        this.refreshTimer = null;
        if (ws) {
            ws.onopen = ws.onmessage = ws.onclose = null;
            try {
                ws.close(code, reason);
            } catch (e) {
                /* already closing */
            }
        }
        this.ws = null;
        this.inflight.clear();
        for (const [, p] of this.pending) {
            p.reject(new ChatError('disconnected', 'connection closed'));
        }
        this.pending.clear();
        for (const r of this.rooms.values()) {
            r.joined = false;
        }
    }

    _closed(ws, code, reason) {
        if (ws !== this.ws) {
            return;
        }
        this.lastClose = { code, reason };
        this._drop();
        if (!this.wanted) {
            this._setState('closed', { code, reason });
            return;
        }
        if (code === 4003) {
            this.wanted = false;
            this._setState('forbidden', { code, reason });
            return;
        }
        if (code === 4001) {
            this.authFailures++;
            if (this.authFailures > 2) {
                this.wanted = false;
                this._setState('unauthorized', { code, reason });
                return;
            }
        }
        this._retry(code, reason);
    }

    _retry(code, reason) {
        if (typeof navigator !== 'undefined' && navigator.onLine === false) {
            this._setState('offline', { code, reason });
            return;
        }
        this.attempt++;
        /* equal jitter: half the backoff fixed, half random */
        const cap = Math.min(this.backoffMax,
                             this.backoffMin * 2 ** (this.attempt - 1));
        const delay = Math.round(cap / 2 + Math.random() * cap / 2);
        this.retryAt = Date.now() + delay;
        this._setState('reconnecting', { code, reason, retryAt: this.retryAt,
                                         delay });
        this.retryTimer = setTimeout(() => {
            this.retryTimer = null;
            this._open('connect');
        }, delay);
    }

    _onOnline() {
        if (!this.wanted || this.state === 'online'
            || this.state === 'connecting')
        {
            return;
        }
        clearTimeout(this.retryTimer);
        this.retryTimer = null;
        this._open('connect');
    }

    _onOffline() {
        if (!this.wanted) {
            return;
        }
        this._stop('offline');
        this._setState('offline');
    }

    _welcome(ws, w) {
        if (ws !== this.ws) {
            return;
        }
        this.user = w.user;
        this.authFailures = 0;
        this.skew = (w.server_time || Date.now()) - Date.now();
        this._scheduleRefresh(w.expires_at);
        this.pingTimer = setInterval(() => this._ping(ws), this.pingInterval);
        const since = this.attempt;
        this.stableTimer = setTimeout(() => {
            if (this.ws === ws && this.attempt === since) {
                this.attempt = 0;
            }
        }, 5000);
        this._setState('online', { user: w.user });
        this._emit('welcome', w);
        for (const r of this.rooms.values()) {
            this._join(r).catch((e) => {
                if (e.code !== 'disconnected') {
                    this._emit('error', e);
                }
            });
        }
        this._flush();
    }

    _ping(ws) {
        const t = setTimeout(() => {
            if (ws === this.ws) {
                this._closed(ws, 4000, 'no answer to ping');
            }
        }, this.pongTimeout);
        this._request({ type: 'ping' }, ws)
            .then(() => clearTimeout(t), () => clearTimeout(t));
    }

    _scheduleRefresh(expiresAt) {
        clearTimeout(this.refreshTimer);
        if (typeof expiresAt !== 'number'
            || typeof this.tokenSource !== 'function')
        {
            return;
        }
        const left = expiresAt * 1000 - (Date.now() + this.skew);
        /* a minute early, or at 80% of a short token's life; setTimeout
         * takes at most 2^31 - 1 ms */
        const when = Math.min(2147483647,
                              Math.max(1000, Math.min(left - 60000,
                                                      left * 0.8)));
        const ws = this.ws;
        this.refreshTimer = setTimeout(async () => {
            try {
                const token = await this.token('refresh');
                const ok = await this._request({ type: 'refresh', token }, ws);
                this._scheduleRefresh(ok.expires_at);
            } catch (e) {
                /* the server closes with 4001 at expiry; reconnect then */
            }
        }, when);
    }

    /* ------------------------------------------------------- requests */

    _request(frame, ws) {
        const sock = ws || this.ws;
        if (!sock || sock.readyState !== 1) {
            return Promise.reject(new ChatError('disconnected',
                                                'not connected'));
        }
        const id = this.nextId++;
        return new Promise((resolve, reject) => {
            this.pending.set(id, { resolve, reject });
            sock.send(JSON.stringify(Object.assign({ id }, frame)));
        });
    }

    /* A request on the current connection, after its welcome. */
    request(frame) {
        if (this.state !== 'online') {
            return Promise.reject(new ChatError('disconnected',
                                                'not connected'));
        }
        return this._request(frame);
    }

    _frame(ws, data) {
        let f;
        if (ws !== this.ws) {
            return;
        }
        try {
            f = JSON.parse(data);
        } catch (e) {
            return;
        }
        if (f.id !== undefined && this.pending.has(f.id)) {
            const p = this.pending.get(f.id);
            this.pending.delete(f.id);
            if (f.type === 'error') {
                p.reject(new ChatError(f.code, f.message,
                                       { retry_after: f.retry_after }));
            } else {
                p.resolve(f);
            }
            return;
        }
        if (f.type === 'error') {
            this._emit('error', new ChatError(f.code, f.message));
            return;
        }
        const r = this.rooms.get(f.room);
        this._event(f, r && r.joining ? 'replay' : 'live');
    }

    /* ---------------------------------------------------------- rooms */

    _room(room) {
        let r = this.rooms.get(room);
        if (!r) {
            r = { room, rev: 0, seq: 0, minSeq: 0, joined: false,
                  joining: null, msgs: new Map(), sentRead: {}, typedAt: 0 };
            this.rooms.set(room, r);
        }
        return r;
    }

    /* The last rev applied and the latest seq known of a room. */
    position(room) {
        const r = this.rooms.get(room);
        return r ? { rev: r.rev, seq: r.seq } : { rev: 0, seq: 0 };
    }

    join(room) {
        const r = this._room(room);
        if (r.joined) {
            return Promise.resolve({ room, seq: r.seq, rev: r.rev });
        }
        if (r.joining) {
            return r.joining;
        }
        if (this.state !== 'online') {
            /* joined on the next welcome */
            return new Promise((resolve, reject) => {
                const on = (ev) => {
                    if (ev.detail.room !== room) {
                        return;
                    }
                    this.removeEventListener('joined', on);
                    this.removeEventListener('error', on);
                    if (ev.type === 'joined') {
                        resolve(ev.detail);
                    } else {
                        reject(ev.detail);
                    }
                };
                this.addEventListener('joined', on);
                this.addEventListener('error', on);
            });
        }
        return this._join(r);
    }

    _join(r) {
        const frame = { type: 'join', room: r.room };
        const knownMin = r.minSeq;
        const knownMax = r.seq;
        const ws = this.ws;

        if (r.rev > 0) {
            frame.since_rev = r.rev;
        }
        r.joining = this._request(frame, ws).then(async (ok) => {
            r.joining = null;
            if (ws !== this.ws) {
                throw new ChatError('disconnected', 'connection closed');
            }
            r.joined = true;
            r.rev = Math.max(r.rev, ok.rev || 0);
            r.seq = Math.max(r.seq, ok.seq || 0);
            if (ok.truncated && knownMax > 0) {
                await this._fill(r, knownMin > 0 ? knownMin - 1 : knownMax);
            } else if (!frame.since_rev && knownMax > 0 && ok.seq > knownMax) {
                /* history was read before this first join: what came
                 * between that page and the join was in neither */
                await this._fill(r, knownMax);
            }
            const info = { room: r.room, seq: ok.seq, rev: ok.rev,
                           truncated: !!ok.truncated };
            this._emit('joined', info);
            return info;
        }, (e) => {
            r.joining = null;
            e.room = r.room;
            throw e;
        });
        return r.joining;
    }

    /* After a truncated replay: walk history forward from `after` to the
     * end, so that what the client holds is the room's current state. */
    async _fill(r, after) {
        let from = after;
        for (;;) {
            const page = await this._request({ type: 'history', room: r.room,
                                               after: from,
                                               limit: this.historyPage });
            for (const m of page.messages) {
                this._entry(r, m, 'history');
            }
            if (!page.has_more || page.messages.length === 0) {
                break;
            }
            from = page.messages[page.messages.length - 1].seq;
        }
    }

    async leave(room) {
        const r = this.rooms.get(room);
        this.rooms.delete(room);
        if (r && r.joined && this.state === 'online') {
            await this._request({ type: 'leave', room });
        }
    }

    /* A page of history; its messages are remembered, so that the same
     * messages coming again (live or replayed) are not events twice. */
    async history(room, opts) {
        const o = opts || {};
        const frame = { type: 'history', room, limit: o.limit || 50 };
        if (o.before !== undefined) {
            frame.before = o.before;
        }
        if (o.after !== undefined) {
            frame.after = o.after;
        }
        const page = await this.request(frame);
        const r = this._room(room);
        for (const m of page.messages) {
            this._remember(r, m);
        }
        return page;
    }

    _remember(r, m) {
        const old = r.msgs.get(m.seq);
        if (old && old.rev >= (m.rev || 0)) {
            return false;
        }
        r.msgs.set(m.seq, { rev: m.rev || 0, deleted: !!m.deleted,
                            body: m.body, edited_at: m.edited_at });
        if (r.minSeq === 0 || m.seq < r.minSeq) {
            r.minSeq = m.seq;
        }
        r.seq = Math.max(r.seq, m.seq);
        return old || true;
    }

    /* A message (live, replayed or from a fill): a new one is a message
     * event, a known one that changed an edited or deleted event. */
    _entry(r, m, source) {
        const known = r.msgs.get(m.seq);
        const res = this._remember(r, m);
        if (res === false) {
            return;
        }
        if (!known) {
            this._settle(m);
            this._emit('message', { message: m, source });
        } else if (m.deleted && !known.deleted) {
            this._emit('deleted', { room: r.room, seq: m.seq, rev: m.rev,
                                    by: m.from });
        } else if (!m.deleted && m.body !== known.body) {
            this._emit('edited', { room: r.room, seq: m.seq, rev: m.rev,
                                   body: m.body, edited_at: m.edited_at,
                                   by: m.from });
        }
    }

    _event(f, source) {
        const r = f.room !== undefined ? this.rooms.get(f.room) : undefined;
        if (DURABLE.has(f.type) && r) {
            if (typeof f.rev === 'number') {
                if (f.rev <= r.rev) {
                    return;                     /* seen: a duplicate */
                }
                r.rev = f.rev;
            }
        }
        switch (f.type) {
        case 'message':
            delete f.type;
            if (r) {
                this._entry(r, f, source);
            } else {
                this._emit('message', { message: f, source });
            }
            return;
        case 'edited':
        case 'deleted':
            if (r) {
                const m = r.msgs.get(f.seq);
                if (m) {
                    m.rev = Math.max(m.rev, f.rev || 0);
                    if (f.type === 'deleted') {
                        m.deleted = true;
                        m.body = undefined;
                    } else {
                        m.body = f.body;
                        m.edited_at = f.edited_at;
                    }
                }
            }
            break;
        default:
            break;
        }
        this._emit(f.type, f);
    }

    /* ------------------------------------------------- other requests */

    edit(room, seq, body) {
        return this.request({ type: 'edit', room, seq, body });
    }

    delete(room, seq) {
        return this.request({ type: 'delete', room, seq });
    }

    presence(room) {
        return this.request({ type: 'presence', room });
    }

    /* Moves the read (or delivered) cursor; a seq at or below what was
     * sent on this page already is not sent again. */
    read(room, seq, state) {
        const st = state || 'read';
        const r = this._room(room);
        if (!(seq > (r.sentRead[st] || 0))
            || (st === 'delivered' && seq <= (r.sentRead.read || 0)))
        {
            return Promise.resolve(null);
        }
        r.sentRead[st] = seq;
        return this.request({ type: 'read', room, seq, state: st })
            .catch((e) => {
                if (r.sentRead[st] === seq) {
                    r.sentRead[st] = seq - 1;
                }
                throw e;
            });
    }

    /* Call on every keystroke: at most one typing frame per 2 s goes out;
     * stop (after a send, or an emptied composer) only after a typing. */
    typing(room, stop) {
        const r = this._room(room);
        const now = Date.now();
        if (this.state !== 'online') {
            return;
        }
        if (stop) {
            if (r.typedAt === 0) {
                return;
            }
            r.typedAt = 0;
            this._request({ type: 'typing', room, stop: true })
                .catch(() => {});
            return;
        }
        if (now - r.typedAt < TYPING_EVERY) {
            return;
        }
        r.typedAt = now;
        this._request({ type: 'typing', room }).catch(() => {});
    }

    /* ---------------------------------------------------------- outbox */

    /* The messages not yet acknowledged, oldest first (a room's only). */
    outbox(room) {
        return this.outboxEntries.filter((e) =>
            (room === undefined || e.room === room)
            && (this.user === null || e.user === null || e.user === this.user));
    }

    /* Another tab of the origin may have queued messages meanwhile: they
     * are kept (and sent from here too; their client_msg_id makes that
     * harmless), those acknowledged or discarded here are not. */
    _saveOutbox() {
        if (this.storage) {
            const mine = new Set(this.outboxEntries.map((e) =>
                e.client_msg_id));
            for (const e of this.storage.load()) {
                if (!mine.has(e.client_msg_id)
                    && !this.removed.has(e.client_msg_id))
                {
                    this.outboxEntries.push(e);
                }
            }
            this.outboxEntries.sort((a, b) => a.created - b.created);
            this.storage.save(this.outboxEntries);
        }
        this._emit('outbox', { entries: this.outbox() });
    }

    /* Queues a message: it is kept until the server acknowledges it, and
     * sent (again, with the same client_msg_id) on every connection until
     * then.  Resolves with the send's ok once committed. */
    send(room, body, opts) {
        const o = opts || {};
        const e = { client_msg_id: o.client_msg_id || newId(), room, body,
                    user: this.user, created: Date.now(), state: 'pending' };
        if (o.reply_to !== undefined) {
            e.reply_to = o.reply_to;
        }
        if (o.meta !== undefined) {
            e.meta = o.meta;
        }
        this.outboxEntries.push(e);
        this._saveOutbox();
        const done = new Promise((resolve, reject) => {
            this.waiters.set(e.client_msg_id, [resolve, reject]);
        });
        done.catch(() => {});
        done.entry = e;
        this._transmit(e);
        return done;
    }

    _flush() {
        for (const e of this.outbox()) {
            if (e.state === 'pending') {
                this._transmit(e);
            }
        }
    }

    _transmit(e) {
        const ws = this.ws;
        const frame = { type: 'send', room: e.room, body: e.body,
                        client_msg_id: e.client_msg_id };

        if (this.state !== 'online' || this.inflight.has(e.client_msg_id)
            || !this.outboxEntries.includes(e))
        {
            return;
        }
        if (e.user === null) {
            e.user = this.user;
        }
        if (e.reply_to !== undefined) {
            frame.reply_to = e.reply_to;
        }
        if (e.meta !== undefined) {
            frame.meta = e.meta;
        }
        this.inflight.add(e.client_msg_id);
        this._request(frame, ws).then((ok) => {
            this._acked(e, ok);
        }, (err) => {
            this.inflight.delete(e.client_msg_id);
            if (RETRYABLE.has(err.code)) {
                if (err.code !== 'disconnected' && ws === this.ws) {
                    const wait = Math.max(1, err.retry_after || 1) * 1000;
                    setTimeout(() => this._transmit(e), wait);
                }
                return;
            }
            e.state = 'failed';
            e.error = { code: err.code, message: err.message };
            this._saveOutbox();
            const w = this.waiters.get(e.client_msg_id);
            if (w) {
                this.waiters.delete(e.client_msg_id);
                w[1](err);
            }
        });
    }

    _acked(e, ok) {
        const i = this.outboxEntries.indexOf(e);
        this.inflight.delete(e.client_msg_id);
        if (i < 0) {
            return;
        }
        this.outboxEntries.splice(i, 1);
        this.removed.add(e.client_msg_id);
        this._saveOutbox();
        this._emit('sent', { client_msg_id: e.client_msg_id, room: e.room,
                             seq: ok.seq, rev: ok.rev, msg_id: ok.msg_id,
                             ts: ok.ts });
        const w = this.waiters.get(e.client_msg_id);
        if (w) {
            this.waiters.delete(e.client_msg_id);
            w[0](ok);
        }
    }

    /* A message event with the client_msg_id of an entry settles it as
     * well as the ok would (the two come in either order). */
    _settle(m) {
        if (m.client_msg_id === undefined || m.from !== this.user) {
            return;
        }
        const e = this.outboxEntries.find((x) =>
            x.client_msg_id === m.client_msg_id && x.room === m.room);
        if (e) {
            this._acked(e, m);
        }
    }

    /* Sends a failed entry again, or drops an entry. */
    retry(clientMsgId) {
        const e = this.outboxEntries.find((x) =>
            x.client_msg_id === clientMsgId);
        if (e) {
            e.state = 'pending';
            delete e.error;
            this._saveOutbox();
            this._transmit(e);
        }
    }

    discard(clientMsgId) {
        const i = this.outboxEntries.findIndex((x) =>
            x.client_msg_id === clientMsgId);
        if (i >= 0) {
            this.outboxEntries.splice(i, 1);
            this.removed.add(clientMsgId);
            this._saveOutbox();
        }
    }

    /* ------------------------------------------------------------ REST */

    /* A REST call on the origin's API (protocol.md section 7):
     * api('GET', '/rooms').  Resolves with the JSON body (null for 204). */
    async api(method, path, body) {
        const url = onOrigin(this.origin, this.apiBase.pathname + path);
        let res;
        for (let tries = 0; ; tries++) {
            const headers = { Authorization: 'Bearer '
                                  + await this.token(tries ? 'expired' : 'api') };
            const init = { method, headers, credentials: 'omit',
                           cache: 'no-store' };
            if (body !== undefined) {
                headers['Content-Type'] = 'application/json';
                init.body = JSON.stringify(body);
            }
            res = await fetch(url.href, init);
            if (res.status !== 401 || tries > 0
                || typeof this.tokenSource !== 'function')
            {
                break;
            }
        }
        return readJson(res);
    }
}

/* The JSON body of an answer, or a ChatError with its code. */
export async function readJson(res) {
    let j = null;
    if (res.status !== 204) {
        try {
            j = await res.json();
        } catch (e) {
            j = null;
        }
    }
    if (!res.ok) {
        const err = j && j.error ? j.error : {};
        throw new ChatError(err.code || 'http_' + res.status,
                            err.message || res.statusText,
                            { status: res.status,
                              retry_after: +res.headers.get('Retry-After')
                                           || undefined });
    }
    return j;
}
