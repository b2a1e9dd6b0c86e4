/*
 * ngx_chat demo page: a plain browser client of the WebSocket protocol
 * (protocol version 1, subprotocol "chat.v1").
 *
 * URL fragment (all optional):
 *   #token=<jwt>&room=lobby,dev&auto=1&ws=ws://host/chat/ws
 *   token  fills (and remembers) the token
 *   room   rooms to join on connect, comma separated (default: remembered rooms)
 *   auto=1 connects straight away
 *   ws     another WebSocket URL (default: this host's /chat/ws)
 *
 * User data is only ever put into the page with textContent.
 */
'use strict';

(function () {

  var LS_TOKEN = 'ngx_chat.token';
  var LS_ROOMS = 'ngx_chat.rooms';
  var ROOM_RE = /^[A-Za-z0-9_.:@-]{1,64}$/;
  var FRAME_MAX = 16384;        /* chat_frame_max default; bigger frames close 1009 */
  var BACKOFF = [500, 1000, 2000, 4000, 8000, 15000];
  var PING_EVERY = 25000;
  var PONG_WAIT = 10000;
  var MAX_TRIES = 5;            /* resends of one message over reconnects */
  var AUTO_RETRIES = 3;         /* automatic retries after unavailable / rate_limited */

  var CLOSE_TEXT = {
    1000: 'normal close',
    1001: 'server going away',
    1002: 'protocol error',
    1003: 'binary frame refused',
    1005: 'closed without a code',
    1006: 'connection lost',
    1007: 'invalid UTF-8',
    1008: 'policy violation',
    1009: 'message too big',
    1011: 'server internal error',
    1013: 'server busy, try again later',
    4000: 'no answer to ping',
    4001: 'authentication failed or token expired',
    4003: 'forbidden (banned)',
    4008: 'authentication timeout'
  };

  function $(id) { return document.getElementById(id); }

  var ui = {
    authForm: $('auth-form'), token: $('token'), connect: $('connect'),
    disconnect: $('disconnect'), whoami: $('whoami'),
    status: $('status'), statusText: $('status-text'),
    joinForm: $('join-form'), room: $('room'), rooms: $('rooms'),
    noRooms: $('no-rooms'), roomTitle: $('room-title'), leave: $('leave'),
    messages: $('messages'), empty: $('empty'),
    sendForm: $('send-form'), body: $('body'), send: $('send')
  };

  var S = {
    url: defaultUrl(),
    token: '',
    ws: null,
    conn: 0,            /* connection generation */
    nextId: 1,          /* request id counter, per connection */
    pending: {},        /* id -> what the reply is for, per connection */
    authed: false,
    me: null,           /* welcome.user */
    myName: null,       /* the token's name claim, if any */
    mySub: null,        /* the token's sub claim, until welcome says */
    expiresAt: 0,       /* seconds */
    skew: 0,            /* server_time - local time, ms */
    wanted: false,      /* the user wants to be connected */
    attempt: 0,
    retryTimer: null,
    retryAt: 0,
    pingTimer: null,
    stableTimer: null,
    pongTimer: null,
    rooms: new Map(),   /* room id -> room state */
    current: null
  };

  function defaultUrl() {
    return (location.protocol === 'https:' ? 'wss://' : 'ws://')
      + (location.host || '127.0.0.1:8080') + '/chat/ws';
  }

  /* ------------------------------------------------------------ helpers */

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }

  function randomId() {
    var a = new Uint8Array(12);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) {
      return (b + 0x100).toString(16).slice(1);
    }).join('');
  }

  function utf8Len(s) { return new TextEncoder().encode(s).length; }

  function jwtClaims(token) {
    try {
      var p = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      while (p.length % 4) { p += '='; }
      var bin = atob(p), bytes = new Uint8Array(bin.length);
      for (var i = 0; i < bin.length; i++) { bytes[i] = bin.charCodeAt(i); }
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      return null;
    }
  }

  function fmtTime(ts) {
    if (typeof ts !== 'number') { return ''; }
    var d = new Date(ts), now = new Date();
    var t = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    if (d.toDateString() !== now.toDateString()) {
      t = d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + t;
    }
    return t;
  }

  function fmtLeft(ms) {
    var m = Math.round(ms / 60000);
    if (m < 1) { return 'less than a minute'; }
    if (m < 90) { return m + ' min'; }
    return Math.round(m / 60) + ' h';
  }

  function setStatus(state, text) {
    if (flashTimer !== null && state !== 'error') {
      clearTimeout(flashTimer);
      flashTimer = null;
    }
    ui.status.dataset.state = state;
    ui.statusText.textContent = text;
  }

  function closeText(code) {
    return (CLOSE_TEXT[code] || 'closed') + ' (' + code + ')';
  }

  /* ------------------------------------------------------------ storage */

  function store(key, value) {
    try {
      if (value === null) { localStorage.removeItem(key); }
      else { localStorage.setItem(key, value); }
    } catch (e) { /* private mode: no memory, no harm */ }
  }

  function load(key) {
    try { return localStorage.getItem(key); } catch (e) { return null; }
  }

  function saveRooms() {
    store(LS_ROOMS, JSON.stringify(Array.from(S.rooms.keys())));
  }

  /* ------------------------------------------------------------ connection */

  function connect() {
    var token = ui.token.value.trim();
    ui.token.classList.remove('attention');
    if (!token) {
      ui.token.classList.add('attention');
      ui.token.focus();
      setStatus('error', 'Paste a token first (make token USER=alice).');
      return;
    }
    S.token = token;
    store(LS_TOKEN, token);
    var claims = jwtClaims(token);
    S.myName = claims && typeof claims.name === 'string' ? claims.name : null;
    S.mySub = claims && typeof claims.sub === 'string' ? claims.sub : null;
    S.wanted = true;
    S.attempt = 0;
    open();
  }

  function open() {
    clearTimeout(S.retryTimer);
    S.retryTimer = null;
    drop();

    var conn = ++S.conn;
    var ws;
    S.nextId = 1;
    S.pending = {};
    S.authed = false;
    setStatus('connecting', 'Connecting to ' + S.url + ' …');
    updateControls();

    try {
      ws = new WebSocket(S.url, 'chat.v1');
    } catch (e) {
      setStatus('error', 'Cannot open ' + S.url + ': ' + e.message);
      S.wanted = false;
      updateControls();
      return;
    }
    S.ws = ws;

    ws.onopen = function () {
      if (conn !== S.conn) { return; }
      setStatus('connecting', 'Connected, authenticating …');
      request({ type: 'auth', token: S.token }, { kind: 'auth' });
    };
    ws.onmessage = function (ev) {
      if (conn !== S.conn) { return; }
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (f && typeof f === 'object') { onFrame(f); }
    };
    ws.onclose = function (ev) {
      if (conn !== S.conn) { return; }
      lost(ev.code, ev.reason);
    };
    ws.onerror = function () { /* a close event follows */ };
  }

  /* forget the current socket without reacting to its close */
  function drop() {
    var ws = S.ws;
    S.ws = null;
    S.conn++;
    S.authed = false;
    S.pending = {};
    stopPing();
    clearTimeout(S.stableTimer);
    S.rooms.forEach(function (r) { r.joined = false; r.joining = null; });
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try { ws.close(1000); } catch (e) { /* already closed */ }
    }
  }

  function disconnect() {
    S.wanted = false;
    ui.whoami.hidden = true;
    clearTimeout(S.retryTimer);
    S.retryTimer = null;
    drop();
    setStatus('idle', 'Disconnected.');
    renderRooms();
    updateControls();
  }

  function lost(code, reason) {
    drop();
    renderRooms();
    var why = closeText(code) + (reason ? ': ' + reason : '');

    if (code === 4001) {
      S.wanted = false;
      ui.whoami.hidden = true;
      var c = jwtClaims(S.token);
      var expired = c && typeof c.exp === 'number'
        && c.exp * 1000 <= Date.now() + S.skew;
      setStatus('error', (expired ? 'Token expired' : 'Token rejected')
        + ' — ' + why + '. Paste a new token and press Connect.');
      ui.token.classList.add('attention');
      ui.token.value = '';
      store(LS_TOKEN, null);
      ui.token.focus();
    } else if (code === 4003) {
      S.wanted = false;
      ui.whoami.hidden = true;
      setStatus('error', 'Refused — ' + why + '.');
    } else if (S.wanted) {
      if (code === 1013) { S.attempt = Math.max(S.attempt, 2); }  /* overloaded: back off more */
      scheduleReconnect(why);
    } else {
      setStatus('idle', 'Disconnected — ' + why + '.');
    }
    updateControls();
  }

  function scheduleReconnect(why) {
    var base = BACKOFF[Math.min(S.attempt, BACKOFF.length - 1)];
    var delay = Math.round(base * (0.8 + Math.random() * 0.4));
    S.attempt++;
    S.retryAt = Date.now() + delay;
    clearTimeout(S.retryTimer);
    var timer = S.retryTimer = setTimeout(function () {
      S.retryTimer = null;
      if (S.wanted) { open(); }
    }, delay);
    var tick = function () {
      if (S.retryTimer !== timer) { return; }
      var left = Math.max(0, S.retryAt - Date.now());
      setStatus('retrying', 'Disconnected — ' + why + '. Reconnecting in '
        + (left / 1000).toFixed(1) + ' s (attempt ' + S.attempt + ') …');
      setTimeout(tick, 200);
    };
    tick();
  }

  function request(frame, what) {
    var id = S.nextId++;
    frame.id = id;
    if (what) { S.pending[id] = what; }
    S.ws.send(JSON.stringify(frame));
    return id;
  }

  function startPing() {
    stopPing();
    var conn = S.conn;
    S.pingTimer = setInterval(function () {
      if (conn !== S.conn || !S.authed) { return; }
      request({ type: 'ping' }, { kind: 'ping' });
      clearTimeout(S.pongTimer);
      S.pongTimer = setTimeout(function () {
        if (conn === S.conn) { lost(4000, 'no pong'); }
      }, PONG_WAIT);
    }, PING_EVERY);
  }

  function stopPing() {
    clearInterval(S.pingTimer);
    clearTimeout(S.pongTimer);
    S.pingTimer = S.pongTimer = null;
  }

  /* ------------------------------------------------------------ frames */

  function onFrame(f) {
    if (f.id !== undefined && f.id !== null && S.pending[f.id]) {
      var what = S.pending[f.id];
      delete S.pending[f.id];
      onReply(what, f);
      return;
    }
    switch (f.type) {
    case 'message': onMessage(f); break;
    case 'edited': onEdited(f); break;
    case 'deleted': onDeleted(f); break;
    case 'error': notice(f); break;
    default: break;   /* receipts, presence, ...: not shown here */
    }
  }

  function onReply(what, f) {
    switch (what.kind) {
    case 'auth':
      if (f.type === 'welcome') { onWelcome(f); }
      else { setStatus('error', 'Authentication failed: ' + errText(f)); }
      break;
    case 'ping':
      clearTimeout(S.pongTimer);
      break;
    case 'join': onJoinReply(what.room, f); break;
    case 'send': onSendReply(what.entry, f); break;
    case 'leave':
      if (f.type === 'error') { notice(f); }
      break;
    default: break;
    }
  }

  function errText(f) {
    var t = (f.code || 'error') + (f.message ? ': ' + f.message : '');
    if (f.code === 'rate_limited' && f.retry_after) {
      t += ' (retry in ' + f.retry_after + ' s)';
    }
    return t;
  }

  function notice(f) {
    flash('Server error ' + errText(f));
  }

  /* a passing complaint: back to the connection's status after a while */
  var flashTimer = null;
  function flash(text) {
    setStatus('error', text);
    clearTimeout(flashTimer);
    flashTimer = setTimeout(unflash, 6000);
  }
  function unflash() {
    if (flashTimer === null) { return; }
    clearTimeout(flashTimer);
    flashTimer = null;
    if (S.authed) { showOnline(); }
  }

  function onWelcome(f) {
    S.authed = true;
    /* the backoff starts over once a connection has lasted a while */
    clearTimeout(S.stableTimer);
    S.stableTimer = setTimeout(function () { S.attempt = 0; }, 10000);
    S.me = f.user;
    S.expiresAt = f.expires_at || 0;
    if (typeof f.server_time === 'number') { S.skew = f.server_time - Date.now(); }
    showOnline();
    startPing();
    S.rooms.forEach(function (r) { sendJoin(r); });
    renderRooms();
    updateControls();
  }

  function showOnline() {
    var who = ui.whoami;
    who.textContent = '';
    who.append('Signed in as ', el('strong', null, S.me));
    who.hidden = false;
    var text = 'Connected as ' + S.me;
    if (S.expiresAt) {
      var left = S.expiresAt * 1000 - (Date.now() + S.skew);
      text += ' · token expires in ' + fmtLeft(left);
    }
    setStatus('online', text + '.');
  }

  /* ------------------------------------------------------------ rooms */

  function makeRoom(name) {
    var r = {
      name: name,
      lastSeq: 0,           /* highest seq seen in a message event or join reply */
      bySeq: new Map(),     /* seq -> entry */
      outbox: [],           /* own entries without a seq, in send order */
      joined: false,
      joining: null,        /* { firstSeq } while a join is in flight */
      unread: 0,
      log: el('div', 'room-log'),
      scroll: null
    };
    r.log.hidden = true;
    ui.messages.appendChild(r.log);
    S.rooms.set(name, r);
    return r;
  }

  function joinRoom(name) {
    if (!ROOM_RE.test(name)) {
      flash('A room id is 1 to 64 of A-Z a-z 0-9 _ . : @ -');
      ui.room.classList.add('attention');
      return;
    }
    ui.room.classList.remove('attention');
    unflash();
    var r = S.rooms.get(name);
    if (!r) {
      r = makeRoom(name);
      saveRooms();
      if (S.authed) { sendJoin(r); }
    }
    select(name);
  }

  function sendJoin(r) {
    r.joining = { firstSeq: null };
    r.joined = false;
    /* since = the last seq seen: the server replays what we missed (since 0
     * on a first join shows the room's recent messages) */
    request({ type: 'join', room: r.name, since: r.lastSeq },
            { kind: 'join', room: r });
  }

  function onJoinReply(r, f) {
    if (S.rooms.get(r.name) !== r) { return; }    /* left meanwhile */
    var replayFirst = r.joining ? r.joining.firstSeq : null;
    r.joining = null;
    if (f.type === 'error') {
      note(r, 'Could not join: ' + errText(f), true);
      if (f.code === 'unavailable' || f.code === 'rate_limited'
          || f.code === 'internal') {
        var conn = S.conn;
        setTimeout(function () {
          if (conn === S.conn && S.authed && S.rooms.get(r.name) === r
              && !r.joined && !r.joining) { sendJoin(r); }
        }, (f.retry_after ? f.retry_after * 1000 : 2000));
      } else {
        r.outbox.slice().forEach(function (e) {
          fail(e, 'cannot post here: ' + errText(f));
        });
      }
      renderRooms();
      return;
    }
    r.joined = true;
    if (typeof f.seq === 'number' && f.seq > r.lastSeq) { r.lastSeq = f.seq; }
    if (f.truncated === true) {
      note(r, 'older messages not shown', false,
           replayFirst !== null ? replayFirst - 0.5 : r.lastSeq + 0.5);
    }
    renderRooms();
    flushOutbox(r);
  }

  function leaveRoom() {
    var r = S.current && S.rooms.get(S.current);
    if (!r) { return; }
    if (S.authed) { request({ type: 'leave', room: r.name }, { kind: 'leave' }); }
    S.rooms.delete(r.name);
    r.log.remove();
    saveRooms();
    var next = S.rooms.keys().next();
    S.current = null;
    if (!next.done) { select(next.value); } else { select(null); }
  }

  function select(name) {
    var prev = S.current && S.rooms.get(S.current);
    if (prev) { prev.scroll = ui.messages.scrollTop; prev.log.hidden = true; }
    S.current = name;
    var r = name && S.rooms.get(name);
    ui.empty.hidden = !!r;
    if (r) {
      r.log.hidden = false;
      r.unread = 0;
      ui.roomTitle.textContent = '# ' + r.name;
      if (r.scroll === null) { ui.messages.scrollTop = ui.messages.scrollHeight; }
      else { ui.messages.scrollTop = r.scroll; }
      ui.body.focus();
    } else {
      ui.roomTitle.textContent = 'No room selected';
    }
    renderRooms();
    updateControls();
  }

  function renderRooms() {
    ui.rooms.textContent = '';
    S.rooms.forEach(function (r) {
      var li = el('li');
      if (r.name === S.current) { li.classList.add('active'); }
      if (!r.joined) { li.classList.add('pending'); }
      li.title = r.joined ? r.name : r.name + ' (not joined yet)';
      li.appendChild(el('span', 'name', r.name));
      if (r.unread) { li.appendChild(el('span', 'badge', r.unread > 99 ? '99+' : r.unread)); }
      li.addEventListener('click', function () { select(r.name); });
      ui.rooms.appendChild(li);
    });
    ui.noRooms.hidden = S.rooms.size > 0;
  }

  function updateControls() {
    var r = S.current && S.rooms.get(S.current);
    ui.disconnect.hidden = !S.wanted;
    ui.connect.textContent = S.wanted ? 'Reconnect' : 'Connect';
    ui.leave.disabled = !r;
    ui.body.disabled = !r;
    ui.send.disabled = !r;
  }

  /* ------------------------------------------------------------ message log */

  /* Children of a room log are kept in order of a key: a message's seq,
   * a note's seq-ish position, Infinity for own messages not yet given
   * a seq (they stay at the bottom, in the order they were written). */
  function place(r, node, key) {
    node._key = key;
    var stick = isCurrent(r) && nearBottom();
    var before = null, c = r.log.lastElementChild;
    while (c && c._key > key) { before = c; c = c.previousElementSibling; }
    r.log.insertBefore(node, before);
    if (stick) { ui.messages.scrollTop = ui.messages.scrollHeight; }
  }

  function isCurrent(r) { return S.current === r.name; }

  function nearBottom() {
    var m = ui.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
  }

  function note(r, text, bad, key) {
    var n = el('div', 'note' + (bad ? ' bad' : ''), text);
    place(r, n, key === undefined ? r.lastSeq + 0.5 : key);
  }

  function renderEntry(e) {
    var node = e.node || el('div');
    e.node = node;
    node.textContent = '';
    node.className = 'msg' + (e.own ? ' own' : '') + (e.deleted ? ' deleted' : '')
      + (e.state === 'pending' ? ' pending' : '')
      + (e.state === 'failed' ? ' failed' : '');
    if (e.seq) { node.dataset.seq = e.seq; } else { delete node.dataset.seq; }
    if (e.cmid) { node.dataset.cmid = e.cmid; }

    var meta = el('div', 'meta');
    var from = el('span', 'from', e.name || e.from || '?');
    if (e.from && e.name && e.name !== e.from) { from.title = e.from; }
    meta.appendChild(from);
    var time = el('time', null, fmtTime(e.ts));
    if (typeof e.ts === 'number') {
      time.dateTime = new Date(e.ts).toISOString();
      time.title = new Date(e.ts).toLocaleString() + (e.seq ? ' · seq ' + e.seq : '');
    }
    meta.appendChild(time);
    if (e.edited) { meta.appendChild(el('span', 'edited', '(edited)')); }
    meta.appendChild(el('span', 'state'));
    node.appendChild(meta);

    node.appendChild(el('div', 'body', e.deleted ? 'message deleted' : e.body));

    if (e.state === 'failed') {
      var err = el('div', 'error', 'Not sent — ' + e.error + ' ');
      var retry = el('button', 'link', 'Retry');
      retry.type = 'button';
      retry.addEventListener('click', function () { resend(e); });
      var discard = el('button', 'link', 'Discard');
      discard.type = 'button';
      discard.addEventListener('click', function () { discardEntry(e); });
      err.appendChild(retry);
      err.appendChild(discard);
      node.appendChild(err);
    }
    return node;
  }

  function onMessage(m) {
    var r = S.rooms.get(m.room);
    if (!r || typeof m.seq !== 'number') { return; }
    if (m.seq <= r.lastSeq) { return; }              /* seen already */
    r.lastSeq = m.seq;
    if (r.joining && r.joining.firstSeq === null) { r.joining.firstSeq = m.seq; }
    if (r.bySeq.has(m.seq)) { return; }              /* our send, acked first */

    var e = null;
    if (m.client_msg_id && m.from === S.me) {
      e = r.outbox.find(function (x) { return x.cmid === m.client_msg_id; }) || null;
    }
    if (e) {
      confirm(r, e, m.seq, m.ts);
    } else {
      e = {
        room: r.name, seq: m.seq, from: m.from, name: m.name, body: m.body,
        ts: m.ts, own: m.from === S.me, deleted: m.deleted === true,
        cmid: m.client_msg_id, state: 'done'
      };
      r.bySeq.set(m.seq, e);
      place(r, renderEntry(e), m.seq);
    }
    if (!isCurrent(r) && !e.own) { r.unread++; renderRooms(); }
  }

  function onEdited(f) {
    var r = S.rooms.get(f.room), e = r && r.bySeq.get(f.seq);
    if (!e) { return; }
    e.body = f.body;
    e.edited = true;
    renderEntry(e);
  }

  function onDeleted(f) {
    var r = S.rooms.get(f.room), e = r && r.bySeq.get(f.seq);
    if (!e) { return; }
    e.deleted = true;
    renderEntry(e);
  }

  /* ------------------------------------------------------------ sending */

  function submit() {
    var r = S.current && S.rooms.get(S.current);
    var body = ui.body.value;
    if (!r || !body.trim()) { return; }
    ui.body.value = '';
    var e = {
      room: r.name, cmid: randomId(), from: S.me || S.mySub, name: S.myName, body: body,
      ts: null, own: true, state: 'pending', tries: 0, sentOn: 0, auto: 0,
      timer: null
    };
    r.outbox.push(e);
    place(r, renderEntry(e), Infinity);
    ui.messages.scrollTop = ui.messages.scrollHeight;
    transmit(r, e);
  }

  /* send now if we can; otherwise the entry waits for the (re)join */
  function transmit(r, e) {
    if (!S.authed || !r.joined || e.state !== 'pending' || e.sentOn === S.conn) {
      return;
    }
    var frame = { type: 'send', room: r.name, body: e.body, client_msg_id: e.cmid };
    if (utf8Len(JSON.stringify(frame)) + 32 > FRAME_MAX) {
      fail(e, 'too_large: the message is too long');
      return;
    }
    if (e.tries >= MAX_TRIES) {
      fail(e, 'no acknowledgement after ' + e.tries + ' attempts');
      return;
    }
    e.tries++;
    e.sentOn = S.conn;
    request(frame, { kind: 'send', entry: e });
  }

  function flushOutbox(r) {
    r.outbox.slice().forEach(function (e) { transmit(r, e); });
  }

  function onSendReply(e, f) {
    var r = S.rooms.get(e.room);
    if (!r) { return; }
    if (f.type === 'error') {
      if (e.seq) { return; }
      if ((f.code === 'unavailable' || f.code === 'rate_limited')
          && e.auto < AUTO_RETRIES) {
        /* a backend is down or we are too fast: say so, and try again
         * (same client_msg_id, so never twice) */
        var wait = f.retry_after > 0 ? f.retry_after * 1000 : 1000 << e.auto;
        e.auto++;
        fail(e, errText(f) + ' — retrying in ' + Math.round(wait / 1000) + ' s');
        e.timer = setTimeout(function () {
          e.timer = null;
          if (e.state === 'failed') { retry(e, false); }
        }, wait);
      } else {
        fail(e, errText(f));
      }
      return;
    }
    if (typeof f.seq !== 'number' || e.seq) { return; }  /* message event came first */
    var other = r.bySeq.get(f.seq);
    if (other && other !== e) {
      /* the same message already arrived (a retry of an earlier send) */
      removeFromOutbox(r, e);
      if (e.node) { e.node.remove(); }
      return;
    }
    confirm(r, e, f.seq, f.ts);
  }

  function confirm(r, e, seq, ts) {
    removeFromOutbox(r, e);
    clearTimeout(e.timer);
    e.timer = null;
    e.seq = seq;
    if (typeof ts === 'number') { e.ts = ts; }
    e.state = 'done';
    e.error = null;
    r.bySeq.set(seq, e);
    place(r, renderEntry(e), seq);
  }

  function fail(e, text) {
    e.state = 'failed';
    e.error = text;
    renderEntry(e);
  }

  function resend(e) { retry(e, true); }

  function retry(e, byUser) {
    var r = S.rooms.get(e.room);
    if (!r) { return; }
    clearTimeout(e.timer);
    e.timer = null;
    if (byUser) { e.auto = 0; e.tries = 0; }
    e.state = 'pending';
    e.error = null;
    e.sentOn = 0;
    renderEntry(e);
    transmit(r, e);
  }

  function discardEntry(e) {
    var r = S.rooms.get(e.room);
    clearTimeout(e.timer);
    e.state = 'discarded';
    if (r) { removeFromOutbox(r, e); }
    if (e.node) { e.node.remove(); }
  }

  function removeFromOutbox(r, e) {
    var i = r.outbox.indexOf(e);
    if (i >= 0) { r.outbox.splice(i, 1); }
  }

  /* ------------------------------------------------------------ wiring */

  ui.authForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    connect();
  });
  ui.disconnect.addEventListener('click', disconnect);
  ui.joinForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    joinRoom(ui.room.value.trim());
  });
  ui.leave.addEventListener('click', leaveRoom);
  ui.sendForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    submit();
  });
  ui.body.addEventListener('keydown', function (ev) {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      submit();
    }
  });
  setInterval(function () { if (S.authed) { showOnline(); } }, 30000);

  /* ------------------------------------------------------------ start */

  (function start() {
    var params = new URLSearchParams(location.hash.replace(/^#/, ''));
    var token = params.get('token') || load(LS_TOKEN) || '';
    ui.token.value = token;
    if (params.get('ws')) { S.url = params.get('ws'); }

    var rooms = [];
    if (params.get('room')) {
      rooms = params.get('room').split(',');
    } else {
      try { rooms = JSON.parse(load(LS_ROOMS) || '[]'); } catch (e) { rooms = []; }
    }
    rooms.map(function (x) { return String(x).trim(); })
      .filter(function (x) { return ROOM_RE.test(x); })
      .forEach(function (x) { if (!S.rooms.has(x)) { makeRoom(x); } });
    if (S.rooms.size) {
      ui.room.value = S.rooms.keys().next().value;
      select(S.rooms.keys().next().value);
    } else {
      renderRooms();
      updateControls();
    }
    saveRooms();

    if (location.hash) {
      /* keep the token out of the address bar and the history */
      history.replaceState(null, '', location.pathname + location.search);
    }
    if (params.get('auto') === '1' && token) {
      connect();
    } else if (!token) {
      ui.token.focus();
    }
  })();

  /* for tests and the curious: window.ngxChat.state */
  window.ngxChat = { state: S };

})();
