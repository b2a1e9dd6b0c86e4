/*
 * The ngx_chat web app: login and sign-up, rooms and DMs with unread
 * counts, scrollback, typing, presence, ticks, edits, deletes, moderation
 * and search, over chat-client.js.
 *
 * It talks to its own origin only (location.origin, fixed paths) and reads
 * nothing from its URL.  What users wrote is only ever put into the page as
 * text (textContent), never as HTML.
 */

import { ChatClient } from './chat-client.js';
import { Session } from './app-session.js';

const API = '/chat/api';
const ROOMS_EVERY = 8000;       /* GET /rooms: rooms made elsewhere appear */
const PAGE = 50;
const TYPING_SHOWN = 3000;
const ROOMS_MAX = 90;           /* joined at once (the server allows 100) */
const LS_CURRENT = 'ngx_chat.current';

const $ = (id) => document.getElementById(id);
const session = new Session(API);

let client = null;
let me = null;
let roomsTimer = null;
let readTimer = null;
let observer = null;
let toastTimer = null;
let editing = null;             /* {room, seq} while the composer edits */
let signup = false;

const rooms = new Map();        /* room id -> the room's state here */
let current = null;             /* the open room */

/* ----------------------------------------------------------- helpers */

function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) {
        e.className = cls;
    }
    if (text !== undefined && text !== null) {
        e.textContent = String(text);
    }
    return e;
}

function button(text, cls, fn) {
    const b = el('button', cls, text);
    b.type = 'button';
    b.addEventListener('click', (ev) => {
        ev.stopPropagation();
        fn(ev);
    });
    return b;
}

function toast(text) {
    const t = $('toast');
    t.textContent = text;
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
}

function dayOf(ts) {
    return new Date(ts).toDateString();
}

function dayLabel(ts) {
    const d = new Date(ts);
    const today = new Date();
    const yesterday = new Date(Date.now() - 86400000);
    if (d.toDateString() === today.toDateString()) {
        return 'Today';
    }
    if (d.toDateString() === yesterday.toDateString()) {
        return 'Yesterday';
    }
    return d.toLocaleDateString([], { weekday: 'short', year: 'numeric',
                                      month: 'short', day: 'numeric' });
}

function timeLabel(ts) {
    return new Date(ts).toLocaleTimeString([], { hour: '2-digit',
                                                 minute: '2-digit' });
}

function isDm(id) {
    return id.startsWith('dm:');
}

function dmPeer(id) {
    const p = id.split(':');
    return p[1] === me ? p[2] : p[1];
}

function title(r) {
    if (isDm(r.id)) {
        return dmPeer(r.id);
    }
    return r.name || r.id;
}

function mobile() {
    return window.matchMedia('(max-width: 700px)').matches;
}

function setView(v) {
    document.body.dataset.view = v;
}

/* --------------------------------------------------------- login page */

function showLogin(message) {
    stopChat();
    setView('login');
    $('app').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    $('login-user').focus();
}

function setSignup(on) {
    signup = on;
    $('tab-login').setAttribute('aria-selected', String(!on));
    $('tab-signup').setAttribute('aria-selected', String(on));
    $('name-row').hidden = !on;
    $('login-submit').textContent = on ? 'Sign up' : 'Log in';
    $('login-password').autocomplete = on ? 'new-password' : 'current-password';
    $('login-error').textContent = '';
}

async function onLogin(ev) {
    ev.preventDefault();
    const user = $('login-user').value.trim();
    const password = $('login-password').value;
    const err = $('login-error');
    err.textContent = '';
    $('login-submit').disabled = true;
    try {
        if (signup) {
            await session.register(user, password,
                                   $('login-name').value.trim());
        }
        await session.login(user, password);
        $('login-password').value = '';
        startChat();
    } catch (e) {
        err.textContent = loginError(e);
    } finally {
        $('login-submit').disabled = false;
    }
}

function loginError(e) {
    if (e.status === 409) {
        return 'That user name is taken.';
    }
    if (e.status === 401) {
        return 'Wrong user name or password.';
    }
    if (e.status === 429) {
        return 'Too many attempts: try again in a moment.';
    }
    if (e.status === 404) {
        return 'This server has no accounts: use a token.';
    }
    return e.message || 'Something went wrong.';
}

function onToken(ev) {
    ev.preventDefault();
    try {
        session.useToken($('token-input').value.trim());
        $('token-input').value = '';
        startChat();
    } catch (e) {
        $('login-error').textContent = e.message;
    }
}

/* --------------------------------------------------------- chat start */

function startChat() {
    const s = session.load();
    if (!s) {
        showLogin();
        return;
    }
    me = s.user;
    $('login').hidden = true;
    $('app').hidden = false;
    $('me').textContent = me;
    setView('rooms');

    client = new ChatClient({ origin: location.origin, apiPath: API,
                              wsPath: '/chat/ws',
                              token: (why) => session.token(why),
                              storageKey: 'ngx_chat.outbox' });
    for (const [type, fn] of Object.entries(handlers)) {
        client.addEventListener(type, (ev) => fn(ev.detail));
    }
    observer = new IntersectionObserver(onSeen, {
        root: $('messages'), threshold: [0, 0.25, 0.5, 0.6, 1] });
    new IntersectionObserver(onTop, { root: $('messages') })
        .observe($('top'));
    client.connect();
    loadRooms().then(() => {
        const last = localStorage.getItem(LS_CURRENT);
        if (last && rooms.has(last) && !mobile()) {
            openRoom(last);
        } else if (last && rooms.has(last)) {
            openRoom(last);
        }
    });
    roomsTimer = setInterval(loadRooms, ROOMS_EVERY);
}

function stopChat() {
    clearInterval(roomsTimer);
    if (client) {
        client.close();
        client = null;
    }
    if (observer) {
        observer.disconnect();
        observer = null;
    }
    rooms.clear();
    current = null;
    $('rooms').replaceChildren();
    $('list').replaceChildren();
    $('pending').replaceChildren();
}

async function logout() {
    const c = client;
    stopChat();
    void c;
    localStorage.removeItem(LS_CURRENT);
    await session.logout();
    showLogin();
}

/* ---------------------------------------------------------- room list */

function roomState(id) {
    let r = rooms.get(id);
    if (!r) {
        r = { id, kind: isDm(id) ? 'dm' : 'channel', name: null, topic: null,
              last_seq: 0, read_seq: 0, role: null, last: null,
              msgs: new Map(), oldest: null, hasMore: true, loaded: false,
              loading: false, typing: new Map(), present: new Set(),
              peer: null, li: null, activity: 0 };
        rooms.set(id, r);
    }
    return r;
}

function apply(r, o) {
    r.kind = o.kind || r.kind;
    r.name = o.name === undefined ? r.name : o.name;
    r.topic = o.topic === undefined ? r.topic : o.topic;
    r.role = o.role || r.role;
    r.last_seq = Math.max(r.last_seq, o.last_seq || 0);
    r.read_seq = Math.max(r.read_seq, o.read_seq || 0);
    if (o.last_message && (!r.last || r.last.seq <= o.last_message.seq)) {
        r.last = o.last_message;
        r.activity = Math.max(r.activity, o.last_message.ts || 0);
    }
}

async function loadRooms() {
    let list;
    if (!client) {
        return;
    }
    try {
        list = (await client.api('GET', '/rooms')).rooms;
    } catch (e) {
        if (e.code === 'unauthenticated') {
            showLogin('Your session has ended: log in again.');
        }
        return;
    }
    const seen = new Set();
    for (const o of list) {
        const r = roomState(o.room);
        seen.add(o.room);
        apply(r, o);
        if (!r.joined && [...rooms.values()].filter((x) => x.joined).length
                         < ROOMS_MAX)
        {
            r.joined = true;
            client.join(r.id).then(() => onJoined(r), () => {
                r.joined = false;
            });
        }
    }
    /* left, kicked or banned elsewhere */
    for (const r of rooms.values()) {
        if (!seen.has(r.id) && r.joined && r.id !== current) {
            dropRoom(r.id);
        }
    }
    renderRooms();
}

function onJoined(r) {
    if (r.id === current || r.kind === 'dm') {
        refreshPresence(r);
    }
}

function dropRoom(id) {
    const r = rooms.get(id);
    if (!r) {
        return;
    }
    rooms.delete(id);
    if (client) {
        client.leave(id).catch(() => {});
    }
    if (current === id) {
        current = null;
        localStorage.removeItem(LS_CURRENT);
        $('list').replaceChildren();
        $('pending').replaceChildren();
        $('room-title').textContent = 'No room open';
        $('room-sub').textContent = '';
        setComposer(false);
        setView('rooms');
    }
    renderRooms();
}

function unread(r) {
    return Math.max(0, r.last_seq - r.read_seq);
}

function renderRooms() {
    const ul = $('rooms');
    const list = [...rooms.values()].sort((a, b) =>
        (b.activity - a.activity) || title(a).localeCompare(title(b)));
    const items = list.map((r) => {
        const li = r.li || el('li', 'room');
        r.li = li;
        li.dataset.room = r.id;
        li.classList.toggle('current', r.id === current);
        li.classList.toggle('dm', r.kind === 'dm');
        li.replaceChildren();
        const head = el('div', 'room-line');
        const name = el('span', 'room-name', title(r));
        if (r.kind === 'dm') {
            const dot = el('span', 'presence-dot');
            dot.dataset.online = String(r.present.has(dmPeer(r.id)));
            head.append(dot);
        }
        head.append(name);
        const n = unread(r);
        const badge = el('span', 'unread', n);
        badge.hidden = n === 0;
        head.append(badge);
        li.append(head);
        const last = el('div', 'room-last');
        if (r.last) {
            last.textContent = r.last.deleted ? 'message deleted'
                : (r.last.from === me ? 'You' : r.last.from) + ': '
                  + (r.last.body || '');
        }
        li.append(last);
        if (!li.onclick) {
            li.onclick = () => openRoom(li.dataset.room);
        }
        return li;
    });
    ul.replaceChildren(...items);
    $('no-rooms').hidden = items.length > 0;
}

/* ---------------------------------------------------------- open room */

async function openRoom(id) {
    const r = roomState(id);
    current = id;
    localStorage.setItem(LS_CURRENT, id);
    cancelEdit();
    $('room-title').textContent = title(r);
    $('list').replaceChildren();
    $('pending').replaceChildren();
    r.els = new Map();
    renderRooms();
    setView('chat');
    setComposer(true);
    updateSub(r);
    if (!r.joined) {
        r.joined = true;
        client.join(id).then(() => onJoined(r), () => { r.joined = false; });
    }
    if (!r.loaded) {
        /* the first page after the join's reply: every message is then
         * in the page or comes as an event */
        try {
            await client.join(id);
        } catch (e) {
            toast('Could not open ' + title(r) + ': ' + e.message);
            return;
        }
        if (current !== id) {
            return;
        }
        await loadOlder(r);
    }
    renderList(r, 'bottom');
    renderPending(r);
    refreshPresence(r);
    if (r.kind === 'dm') {
        loadMembers(r);
    }
}

function setComposer(on) {
    $('body').disabled = !on;
    $('send').disabled = !on;
}

async function loadOlder(r) {
    if (r.loading || (r.loaded && !r.hasMore)) {
        return;
    }
    r.loading = true;
    try {
        const opts = { limit: PAGE };
        if (r.oldest !== null) {
            opts.before = r.oldest;
        }
        const page = await untilOnline(() => client.history(r.id, opts));
        for (const m of page.messages) {
            if (!r.msgs.has(m.seq)) {
                r.msgs.set(m.seq, m);
            }
            r.last_seq = Math.max(r.last_seq, m.seq);
        }
        if (page.messages.length > 0) {
            r.oldest = Math.min(r.oldest === null ? Infinity : r.oldest,
                                page.messages[0].seq);
        }
        r.hasMore = page.has_more;
        r.loaded = true;
    } finally {
        r.loading = false;
    }
}

/* A request that needs the connection: tried again once it is back. */
function untilOnline(fn) {
    return new Promise((resolve, reject) => {
        const attempt = () => fn().then(resolve, (e) => {
            if (e.code !== 'disconnected' || !client) {
                reject(e);
                return;
            }
            const c = client;
            const on = (ev) => {
                if (ev.detail.state === 'online') {
                    c.removeEventListener('state', on);
                    attempt();
                }
            };
            c.addEventListener('state', on);
        });
        attempt();
    });
}

async function onTop(entries) {
    const r = current && rooms.get(current);
    if (!r || !entries.some((e) => e.isIntersecting) || !r.loaded
        || !r.hasMore || r.loading)
    {
        return;
    }
    await loadOlder(r);
    if (current === r.id) {
        renderList(r, 'keep');
        /* a page too short to scroll: the top is still in view */
        if (r.hasMore && $('messages').scrollTop < 2) {
            onTop([{ isIntersecting: true }]);
        }
    }
}

/* --------------------------------------------------------- the list */

function renderList(r, scroll) {
    const box = $('messages');
    const list = $('list');
    const fromBottom = box.scrollHeight - box.scrollTop;
    const atBottom = fromBottom - box.clientHeight < 40;
    const seqs = [...r.msgs.keys()].sort((a, b) => a - b);
    const nodes = [];
    let day = null;

    for (const seq of seqs) {
        const m = r.msgs.get(seq);
        const d = dayOf(m.ts);
        if (d !== day) {
            day = d;
            nodes.push(el('div', 'day', dayLabel(m.ts)));
        }
        nodes.push(msgEl(r, m));
    }
    list.replaceChildren(...nodes);
    if (scroll === 'bottom' || (scroll !== 'keep' && atBottom)) {
        box.scrollTop = box.scrollHeight;
    } else if (scroll === 'keep') {
        box.scrollTop = box.scrollHeight - fromBottom;
    }
}

function msgEl(r, m) {
    let e = r.els.get(m.seq);
    const version = (m.rev || 0) + ':' + (m.deleted ? 'd' : '')
                    + ':' + tick(r, m);
    if (e && e.dataset.version === version) {
        return e;
    }
    const fresh = el('div', 'msg');
    fresh.dataset.seq = m.seq;
    fresh.dataset.from = m.from;
    fresh.dataset.version = version;
    fresh.classList.toggle('mine', m.from === me);
    fresh.classList.toggle('deleted', !!m.deleted);
    const meta = el('div', 'meta');
    meta.append(el('span', 'from', m.name || m.from),
                el('time', 'ts', timeLabel(m.ts)));
    if (m.edited_at && !m.deleted) {
        meta.append(el('span', 'edited', '(edited)'));
    }
    const t = tick(r, m);
    if (t) {
        const s = el('span', 'ticks', t === 'sent' ? '\u2713'
                                      : '\u2713\u2713');
        s.dataset.tick = t;
        s.title = t;
        meta.append(s);
    }
    fresh.append(meta);
    fresh.append(el('div', 'text', m.deleted ? 'message deleted' : m.body));
    fresh.addEventListener('click', () => toggleActions(r, fresh));
    if (e) {
        observer.unobserve(e);
    }
    r.els.set(m.seq, fresh);
    observer.observe(fresh);
    return fresh;
}

/* sent, delivered or read, for my messages in a DM */
function tick(r, m) {
    if (r.kind !== 'dm' || m.from !== me || m.deleted) {
        return '';
    }
    const p = r.peer;
    if (p && p.read_seq >= m.seq) {
        return 'read';
    }
    if (p && p.delivered_seq >= m.seq) {
        return 'delivered';
    }
    return 'sent';
}

function mayModerate(r) {
    const roles = session.roles();
    return r.kind !== 'dm' && (r.role === 'owner' || r.role === 'moderator'
                               || roles.includes('admin')
                               || roles.includes('moderator'));
}

function toggleActions(r, node) {
    const open = node.querySelector('.msg-actions');
    for (const x of document.querySelectorAll('.msg-actions')) {
        x.remove();
    }
    const m = r.msgs.get(+node.dataset.seq);
    if (open || !m || m.deleted) {
        return;
    }
    const bar = el('div', 'msg-actions');
    if (m.from === me) {
        bar.append(button('Edit', 'edit', () => startEdit(r, m)),
                   button('Delete', 'delete', () => del(r, m)));
    } else if (mayModerate(r)) {
        bar.append(button('Delete', 'delete', () => del(r, m)),
                   button('Kick', 'kick', () => moderate(r, m.from, 'kick')),
                   button('Mute 10 min', 'mute',
                          () => moderate(r, m.from, 'mute')),
                   button('Ban', 'ban', () => moderate(r, m.from, 'ban')));
    } else {
        return;
    }
    node.append(bar);
}

function startEdit(r, m) {
    editing = { room: r.id, seq: m.seq };
    $('editing').hidden = false;
    $('body').value = m.body;
    $('body').focus();
}

function cancelEdit() {
    editing = null;
    $('editing').hidden = true;
}

async function del(r, m) {
    try {
        await client.delete(r.id, m.seq);
    } catch (e) {
        toast('Could not delete: ' + e.message);
    }
}

async function moderate(r, user, what) {
    const u = encodeURIComponent(user);
    const room = encodeURIComponent(r.id);
    try {
        if (what === 'kick') {
            await client.api('DELETE', `/rooms/${room}/members/${u}`);
        } else if (what === 'mute') {
            await client.api('POST', `/rooms/${room}/mutes/${u}`,
                             { until: Date.now() + 600000 });
        } else {
            await client.api('POST', `/rooms/${room}/bans/${u}`, {});
        }
        toast(`${user}: ${what === 'kick' ? 'kicked' : what === 'mute'
                          ? 'muted for 10 minutes' : 'banned'}`);
    } catch (e) {
        toast(`Could not ${what} ${user}: ${e.message}`);
    }
}

/* Messages written here and not yet acknowledged, below the list. */
function renderPending(r) {
    const box = $('messages');
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    const nodes = client.outbox(r.id).map((e) => {
        const n = el('div', 'msg mine pending');
        n.dataset.cmid = e.client_msg_id;
        n.dataset.state = e.state;
        const meta = el('div', 'meta');
        meta.append(el('span', 'from', me),
                    el('span', 'ts', e.state === 'failed'
                       ? 'not sent: ' + (e.error && e.error.message)
                       : 'sending\u2026'));
        const t = el('span', 'ticks', '\u{1F552}');
        t.dataset.tick = 'pending';
        meta.append(t);
        n.append(meta, el('div', 'text', e.body));
        if (e.state === 'failed') {
            n.append(button('Retry', 'link', () =>
                         client.retry(e.client_msg_id)),
                     button('Discard', 'link', () =>
                         client.discard(e.client_msg_id)));
        }
        return n;
    });
    $('pending').replaceChildren(...nodes);
    if (atBottom) {
        box.scrollTop = box.scrollHeight;
    }
}

/* ------------------------------------------------------------- reads */

function onSeen(entries) {
    const r = current && rooms.get(current);
    if (!r || document.visibilityState !== 'visible') {
        return;
    }
    let max = 0;
    for (const e of entries) {
        /* most of it on screen, or half the screen for a long one */
        if (e.isIntersecting && (e.intersectionRatio >= 0.6
                                 || e.intersectionRect.height
                                    >= 0.5 * e.rootBounds.height))
        {
            max = Math.max(max, +e.target.dataset.seq);
        }
    }
    if (max > (r.seen || 0)) {
        r.seen = max;
    }
    scheduleRead(r);
}

function scheduleRead(r) {
    clearTimeout(readTimer);
    readTimer = setTimeout(() => {
        if (!client || !r.seen || r.seen <= r.read_seq) {
            return;
        }
        const seq = r.seen;
        client.read(r.id, seq).then(() => {
            r.read_seq = Math.max(r.read_seq, seq);
            renderRooms();
        }, () => {});
    }, 200);
}

/* the messages shown in the open room that are on screen now */
function recheckSeen() {
    const r = current && rooms.get(current);
    if (!r || !observer) {
        return;
    }
    const box = $('messages').getBoundingClientRect();
    for (const n of $('list').children) {
        const b = n.getBoundingClientRect();
        if (n.dataset.seq && b.bottom <= box.bottom + 1 && b.top >= box.top) {
            r.seen = Math.max(r.seen || 0, +n.dataset.seq);
        }
    }
    scheduleRead(r);
}

/* --------------------------------------------------- presence, typing */

async function refreshPresence(r) {
    try {
        const ok = await client.presence(r.id);
        r.present = new Set(ok.users);
        updateSub(r);
        renderRooms();
    } catch (e) {
        /* shown again on the next event */
    }
}

async function loadMembers(r) {
    try {
        const j = await client.api('GET', '/rooms/'
                                   + encodeURIComponent(r.id) + '/members');
        for (const m of j.members) {
            if (m.user !== me) {
                r.peer = { user: m.user, read_seq: m.read_seq,
                           delivered_seq: m.delivered_seq };
            }
        }
        if (current === r.id) {
            renderList(r);
        }
    } catch (e) {
        /* ticks stay "sent" */
    }
}

function updateSub(r) {
    if (r.id !== current) {
        return;
    }
    const sub = $('room-sub');
    const typing = [...r.typing.keys()];
    if (typing.length > 0) {
        sub.textContent = typing.join(', ')
            + (typing.length > 1 ? ' are typing\u2026' : ' is typing\u2026');
        sub.dataset.kind = 'typing';
        return;
    }
    sub.dataset.kind = 'presence';
    if (r.kind === 'dm') {
        sub.textContent = r.present.has(dmPeer(r.id)) ? 'online' : 'offline';
    } else {
        const n = r.present.size + (r.present.has(me) ? 0 : 1);
        sub.textContent = n + ' online' + (r.topic ? ' \u00b7 ' + r.topic : '');
    }
}

/* ------------------------------------------------------- chat events */

const handlers = {
    state(d) {
        const s = $('status');
        const text = $('status-text');
        s.dataset.state = d.state;
        $('retry-now').hidden = d.state !== 'reconnecting';
        clearInterval(s.timer);
        if (d.state === 'online') {
            text.textContent = 'Connected';
            loadRooms();
            recheckSeen();
        } else if (d.state === 'connecting') {
            text.textContent = 'Connecting\u2026';
        } else if (d.state === 'offline') {
            text.textContent = 'Offline';
        } else if (d.state === 'reconnecting') {
            const show = () => {
                const left = Math.max(0, Math.ceil((d.retryAt - Date.now())
                                                   / 1000));
                text.textContent = 'Reconnecting in ' + left + ' s';
            };
            show();
            s.timer = setInterval(show, 1000);
        } else if (d.state === 'unauthorized') {
            showLogin('Your session has ended: log in again.');
        } else if (d.state === 'forbidden') {
            text.textContent = 'Banned from this server';
        } else {
            text.textContent = d.state;
        }
    },

    message(d) {
        const m = d.message;
        const r = rooms.get(m.room);
        if (!r) {
            loadRooms();
            return;
        }
        r.msgs.set(m.seq, m);
        r.last_seq = Math.max(r.last_seq, m.seq);
        if (m.from === me) {
            r.read_seq = Math.max(r.read_seq, m.seq);
        }
        if (!r.last || r.last.seq <= m.seq) {
            r.last = m;
            r.activity = Math.max(r.activity, m.ts);
        }
        if (r.kind === 'dm' && m.from !== me) {
            delivered(r, m.seq);
        }
        if (r.id === current) {
            renderList(r, m.from === me ? 'bottom' : undefined);
        }
        renderRooms();
    },

    edited(d) {
        changeMessage(d, (m) => {
            m.body = d.body;
            m.edited_at = d.edited_at;
        });
    },

    deleted(d) {
        changeMessage(d, (m) => {
            m.deleted = true;
            delete m.body;
        });
    },

    outbox() {
        const r = current && rooms.get(current);
        if (r) {
            renderPending(r);
        }
    },

    sent(d) {
        const r = rooms.get(d.room);
        if (r && d.seq) {
            r.read_seq = Math.max(r.read_seq, d.seq);
            r.last_seq = Math.max(r.last_seq, d.seq);
        }
    },

    typing(d) {
        const r = rooms.get(d.room);
        if (!r || d.user === me) {
            return;
        }
        clearTimeout(r.typing.get(d.user));
        if (d.stop) {
            r.typing.delete(d.user);
        } else {
            r.typing.set(d.user, setTimeout(() => {
                r.typing.delete(d.user);
                updateSub(r);
            }, TYPING_SHOWN));
        }
        updateSub(r);
    },

    presence(d) {
        const r = rooms.get(d.room);
        if (!r) {
            return;
        }
        if (d.state === 'online') {
            r.present.add(d.user);
        } else {
            r.present.delete(d.user);
        }
        updateSub(r);
        renderRooms();
    },

    receipt(d) {
        const r = rooms.get(d.room);
        if (!r) {
            return;
        }
        if (d.user === me) {
            if (d.state === 'read') {
                r.read_seq = Math.max(r.read_seq, d.seq);
                renderRooms();
            }
            return;
        }
        if (r.kind !== 'dm') {
            return;
        }
        const p = r.peer || (r.peer = { user: d.user, read_seq: 0,
                                        delivered_seq: 0 });
        p.delivered_seq = Math.max(p.delivered_seq, d.seq);
        if (d.state === 'read') {
            p.read_seq = Math.max(p.read_seq, d.seq);
        }
        if (r.id === current) {
            renderList(r);
        }
    },

    member(d) {
        const r = rooms.get(d.room);
        if (!r) {
            return;
        }
        if (d.user === me && ['kicked', 'banned', 'left'].includes(d.action)) {
            toast(d.action === 'left' ? 'You left ' + title(r)
                  : 'You were ' + d.action + ' from ' + title(r));
            dropRoom(r.id);
        } else if (d.user === me && d.action === 'role') {
            r.role = d.role;
        }
    },

    room(d) {
        const r = rooms.get(d.room);
        if (r) {
            apply(r, d);
            if (r.id === current) {
                $('room-title').textContent = title(r);
                updateSub(r);
            }
            renderRooms();
        }
    },

    error(e) {
        if (e && e.code === 'rate_limited') {
            toast('Slow down a little.');
        }
    }
};

/* The delivered cursor of a DM, once for a burst of messages (a replay
 * brings many at once; each request counts against the server's budget). */
function delivered(r, seq) {
    r.deliveredSeq = Math.max(r.deliveredSeq || 0, seq);
    if (r.deliveredTimer) {
        return;
    }
    r.deliveredTimer = setTimeout(() => {
        r.deliveredTimer = null;
        if (client) {
            client.read(r.id, r.deliveredSeq, 'delivered').catch(() => {});
        }
    }, 100);
}

function changeMessage(d, fn) {
    const r = rooms.get(d.room);
    const m = r && r.msgs.get(d.seq);
    if (!m) {
        return;
    }
    fn(m);
    m.rev = Math.max(m.rev || 0, d.rev || 0);
    if (r.last && r.last.seq === d.seq) {
        r.last = m;
        renderRooms();
    }
    if (r.id === current) {
        renderList(r);
    }
}

/* ----------------------------------------------------------- composer */

async function submit(ev) {
    ev.preventDefault();
    const box = $('body');
    const text = box.value;
    const r = current && rooms.get(current);
    if (!r || text.trim() === '') {
        return;
    }
    box.value = '';
    client.typing(r.id, true);
    if (editing) {
        const e = editing;
        cancelEdit();
        try {
            await client.edit(e.room, e.seq, text);
        } catch (err) {
            toast('Could not edit: ' + err.message);
        }
        return;
    }
    client.send(r.id, text).catch(() => {});
    renderPending(r);
    $('messages').scrollTop = $('messages').scrollHeight;
}

function onInput() {
    const r = current && rooms.get(current);
    if (!r || editing) {
        return;
    }
    client.typing(r.id, $('body').value === '');
}

/* ------------------------------------------------------ rooms, DMs, search */

function openDialog(id) {
    const d = $(id);
    d.querySelector('.error').textContent = '';
    d.showModal();
    d.querySelector('input').focus();
}

async function createRoom(ev) {
    ev.preventDefault();
    const id = $('room-id').value.trim();
    const body = { room: id };
    if ($('room-name').value.trim()) {
        body.name = $('room-name').value.trim();
    }
    if ($('room-private').checked) {
        body.private = true;
    }
    try {
        await client.api('POST', '/rooms', body);
    } catch (e) {
        /* a room that exists is opened (joined) instead */
        if (e.code !== 'conflict') {
            $('room-error').textContent = e.message;
            return;
        }
    }
    $('room-dialog').close();
    $('room-form').reset();
    await openRoom(id);
    loadRooms();
}

async function startDm(ev) {
    ev.preventDefault();
    const user = $('dm-user').value.trim();
    let room;
    try {
        room = await client.api('POST', '/dm/' + encodeURIComponent(user));
    } catch (e) {
        $('dm-error').textContent = e.code === 'not_found'
            ? 'No such user (they must have logged in once).' : e.message;
        return;
    }
    $('dm-dialog').close();
    $('dm-form').reset();
    await loadRooms();
    openRoom(room.room);
}

async function search(ev) {
    ev.preventDefault();
    const q = $('search').value.trim();
    if (!q) {
        return;
    }
    let res;
    try {
        res = await client.api('GET', '/search?q=' + encodeURIComponent(q));
    } catch (e) {
        toast('Search failed: ' + e.message);
        return;
    }
    const items = res.messages.map((m) => {
        const li = el('li', 'result');
        const r = rooms.get(m.room);
        li.append(el('div', 'result-meta', (r ? title(r) : m.room) + ' \u00b7 '
                                           + m.from + ' \u00b7 '
                                           + dayLabel(m.ts) + ' '
                                           + timeLabel(m.ts)),
                  el('div', 'result-text', m.body));
        li.addEventListener('click', () => jumpTo(m.room, m.seq));
        return li;
    });
    if (items.length === 0) {
        items.push(el('li', 'hint', 'Nothing found.'));
    }
    $('results').replaceChildren(...items);
    $('search-results').hidden = false;
    $('rooms').hidden = true;
}

function closeSearch() {
    $('search-results').hidden = true;
    $('rooms').hidden = false;
    $('search').value = '';
}

async function jumpTo(room, seq) {
    closeSearch();
    await openRoom(room);
    const r = rooms.get(room);
    for (let i = 0; i < 20 && !r.msgs.has(seq) && r.hasMore; i++) {
        await loadOlder(r);
    }
    renderList(r, 'keep');
    const n = r.els.get(seq);
    if (n) {
        n.scrollIntoView({ block: 'center' });
        n.classList.add('found');
    }
}

/* -------------------------------------------------------------- wiring */

function wire() {
    $('login-form').addEventListener('submit', onLogin);
    $('token-form').addEventListener('submit', onToken);
    $('tab-login').addEventListener('click', () => setSignup(false));
    $('tab-signup').addEventListener('click', () => setSignup(true));
    $('logout').addEventListener('click', logout);
    $('retry-now').addEventListener('click', () => client && client.reconnect());
    $('back').addEventListener('click', () => setView('rooms'));
    $('composer').addEventListener('submit', submit);
    $('body').addEventListener('input', onInput);
    $('body').addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
            submit(ev);
        } else if (ev.key === 'Escape' && editing) {
            cancelEdit();
            $('body').value = '';
        }
    });
    $('edit-cancel').addEventListener('click', () => {
        cancelEdit();
        $('body').value = '';
    });
    $('new-room').addEventListener('click', () => openDialog('room-dialog'));
    $('new-dm').addEventListener('click', () => openDialog('dm-dialog'));
    $('room-form').addEventListener('submit', createRoom);
    $('dm-form').addEventListener('submit', startDm);
    for (const b of document.querySelectorAll('dialog [data-close]')) {
        b.addEventListener('click', () => b.closest('dialog').close());
    }
    $('search-form').addEventListener('submit', search);
    $('search-close').addEventListener('click', closeSearch);
    document.addEventListener('visibilitychange', recheckSeen);
    window.addEventListener('storage', (ev) => {
        if (ev.key === 'ngx_chat.session' && ev.newValue === null && client) {
            showLogin('Logged out in another tab.');
        }
    });
}

wire();
setSignup(false);
if (session.load()) {
    startChat();
} else {
    showLogin();
}
