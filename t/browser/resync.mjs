// Resync in the browser: a reload shows each message once and keeps the
// unread counts right (read is sent as messages are seen); a network cut
// during which more events happen than chat_join_replay_max loses nothing;
// a message written offline is sent once after a reload; a send whose
// answer was lost is sent again and stored once.  Alice is in Chromium;
// bob acts over REST.  Run by t/131-browser-resync.t.

import { cfg, check, waitCheck, launch, finish, shot, userContext,
         openApp, openRoom, send, unreadOf, api, until, listIs,
         reload } from './lib.mjs';

const [alice, bob] = cfg.names;
const [R, S, T, U] = cfg.rooms;
const bodies = { [R]: [], [S]: [], [T]: [] };

async function post(room, body) {
    const r = await api(bob, 'POST', `/rooms/${room}/messages`, { body });
    bodies[room].push(body);
    return r.json;
}

await launch();
const ctx = await userContext(alice);
let page = await openApp(ctx, alice, 'signup');
const session = () => page.evaluate(() =>
    JSON.parse(localStorage.getItem('ngx_chat.session')));
const s0 = await session();
if (cfg.accounts) {
    check(s0.user === alice && s0.refresh_token,
          'signed up and logged in through the page: a refresh token is kept',
          JSON.stringify(s0));
}

// alice's REST calls: with the page's own token
async function asAlice(method, p, body) {
    return api({ token: (await session()).access_token }, method, p, body);
}

async function serverUnread(room) {
    const r = await asAlice('GET', '/rooms');
    const o = r.json.rooms.find((x) => x.room === room);
    return o ? o.unread : -1;
}

// ---- setup over REST: alice owns R, S and T, bob writes in them
for (const room of [R, S, T]) {
    await asAlice('POST', '/rooms', { room });
    await post(room, 'welcome to ' + room);
}
for (let i = 1; i <= 120; i++) {
    await post(T, 'old ' + i);
}
await reload(page);
await page.waitForSelector(`#rooms li[data-room="${T}"]`);
check(await unreadOf(page, R) === 1 && await unreadOf(page, S) === 1
      && await unreadOf(page, T) === 121,
      'the room list shows the unread counts (1, 1, 121)');

// ---- scrollback: 120 messages, pages of 50 as the top comes into view
await openRoom(page, T);
await waitCheck('T opens on its newest page', () =>
    page.waitForSelector('#list .msg[data-seq="120"]'));
check(await page.$$eval('#list .msg', (ns) => ns.length) === 50,
      'one page of 50 at first');
await waitCheck('scrolling up pages back to the first message', () =>
    page.waitForFunction(() => {
        const box = document.querySelector('#messages');
        box.scrollTop = 0;
        const m = document.querySelector('#list .msg');
        return m && m.dataset.seq === '1';
    }, null, { polling: 200 }));
await waitCheck('... each message once, in order', () =>
    listIs(page, bodies[T]));
check(await page.$$eval('#list .day', (ns) => ns.map((n) => n.textContent))
      .then((d) => d.length === 1 && d[0] === 'Today'),
      'a day separator heads the day');

// ---- a room made over REST while the page is open appears in the list
await asAlice('POST', '/rooms', { room: U, name: 'Made elsewhere' });
await waitCheck('a room created over REST appears in the list', () =>
    page.waitForSelector(`#rooms li[data-room="${U}"] >> text="Made elsewhere"`),
    20000);

await openRoom(page, R);

// ---- unread counts: R is open (seen, read), S is not
for (let i = 1; i <= 3; i++) {
    await post(S, 's' + i);
}
await post(R, 'r1');
await post(R, 'r2');
await waitCheck('live: S counts 4 unread, R none (it is on screen)', () =>
    page.waitForFunction(([R, S]) => {
        const n = (r) => {
            const b = document.querySelector(`#rooms li[data-room="${r}"] .unread`);
            return b.hidden ? 0 : +b.textContent;
        };
        return n(S) === 4 && n(R) === 0;
    }, [R, S]));
await waitCheck('the server has R read to its end', () =>
    until(async () => await serverUnread(R) === 0));

await reload(page);
await waitCheck('after a reload R shows each message once', () =>
    listIs(page, bodies[R]));
check(await unreadOf(page, R) === 0 && await unreadOf(page, S) === 4,
      'after a reload: R 0 unread, S 4', JSON.stringify(
          [await unreadOf(page, R), await unreadOf(page, S)]));
await openRoom(page, S);
await waitCheck('opening S reads it', () =>
    until(async () => await serverUnread(S) === 0));
await reload(page);
await waitCheck('after another reload S stays read, its messages once', () =>
    listIs(page, bodies[S]));
check(await unreadOf(page, S) === 0, 'S: 0 unread after the reload');
await openRoom(page, R);
await listIs(page, bodies[R]);

// ---- a network cut with more events than the replay cap
await ctx.setOffline(true);
await waitCheck('offline is shown', () =>
    page.waitForSelector('#status[data-state="offline"]'));
const sent = [];
for (let i = 1; i <= cfg.replay_max * 2 + 2; i++) {
    sent.push(await post(R, 'cut ' + i));
}
const e = await api(bob, 'PATCH', `/rooms/${R}/messages/${sent[0].seq}`,
                    { body: 'cut 1, edited' });
const d = await api(bob, 'DELETE', `/rooms/${R}/messages/${sent[1].seq}`);
check(e.status === 200 && d.status === 204, 'bob edits and deletes meanwhile');
bodies[R][bodies[R].indexOf('cut 1')] = 'cut 1, edited';
bodies[R][bodies[R].indexOf('cut 2')] = null;
await ctx.setOffline(false);
await waitCheck('back online at once', () =>
    page.waitForSelector('#status[data-state="online"]'));
await waitCheck('nothing is lost past the replay cap, nothing twice', () =>
    listIs(page, bodies[R]));
await shot(page, '131-after-cut');

// ---- a message written offline, then a reload
await ctx.setOffline(true);
await page.waitForSelector('#status[data-state="offline"]');
await send(page, 'written offline');
await waitCheck('it waits in the outbox', () =>
    page.waitForSelector('#pending .msg[data-state="pending"]'));
const box = await page.evaluate(() => localStorage.getItem('ngx_chat.outbox'));
check(box && JSON.parse(box).length === 1, 'the outbox is in localStorage');
await shot(page, '131-offline-pending');
await page.close();
await ctx.setOffline(false);
page = await openApp(ctx, alice);
bodies[R].push('written offline');
await waitCheck('after the reload it is sent, and shown once', () =>
    listIs(page, bodies[R]));
await waitCheck('the outbox is empty', () =>
    page.waitForFunction(() => !localStorage.getItem('ngx_chat.outbox')
                         && !document.querySelector('#pending .msg')));

// ---- the answer to a send is lost: it is sent again, stored once
await page.close();
let armed = true;
let cut = false;
await ctx.routeWebSocket(/\/chat\/ws$/, (ws) => {
    const server = ws.connectToServer();
    let sendId = null;
    ws.onMessage((m) => {
        const f = JSON.parse(m);
        if (armed && f.type === 'send') {
            sendId = f.id;
        }
        server.send(m);
    });
    server.onMessage((m) => {
        const f = JSON.parse(m);
        if (armed && ((f.type === 'ok' && f.id === sendId)
                      || (f.type === 'message'
                          && f.body === 'answer lost')))
        {
            /* the commit happened; the page never hears of it */
            armed = false;
            cut = true;
            ws.close({ code: 1011, reason: 'cut' });
            return;
        }
        ws.send(m);
    });
});
page = await openApp(ctx, alice);
await send(page, 'answer lost');
bodies[R].push('answer lost');
await waitCheck('the connection with the lost answer was cut', () =>
    until(() => cut));
await waitCheck('after reconnecting it is shown once', () =>
    listIs(page, bodies[R]), 15000);
const h = await api(bob, 'GET', `/rooms/${R}/messages?limit=200`);
const stored = h.json.messages.filter((m) => m.body === 'answer lost'
                                      || m.body === 'written offline');
check(stored.length === 2, 'the server stored each of the two once',
      JSON.stringify(stored));
await shot(page, '131-resynced');

// ---- accounts: access tokens of 65 s, refreshed; logging out
if (cfg.accounts) {
    await waitCheck('the page has refreshed its access token', () =>
        page.waitForFunction((t) => JSON.parse(localStorage.getItem(
            'ngx_chat.session')).access_token !== t, s0.access_token));
    const s1 = await session();
    check(s1.refresh_token !== s0.refresh_token,
          '... with a new refresh token each time');
    await send(page, 'after a refresh');
    bodies[R].push('after a refresh');
    await waitCheck('still connected, still sending', () =>
        listIs(page, bodies[R]));
    let lastRefresh = s1.refresh_token;
    let logoutToken = null;
    page.on('response', async (r) => {
        if (r.url().endsWith('/auth/refresh') && r.ok()) {
            lastRefresh = (await r.json()).refresh_token;
        }
    });
    page.on('request', (r) => {
        if (r.url().endsWith('/auth/logout')) {
            logoutToken = r.headers().authorization;
        }
    });
    await page.click('#logout');
    await waitCheck('Log out shows the login form', () =>
        page.waitForSelector('#login-user'));
    await waitCheck('... and revokes the session on the server', () =>
        until(() => logoutToken));
    const a = await fetch(cfg.api + '/rooms',
                          { headers: { Authorization: logoutToken } });
    check(a.status === 401, 'its access token is refused after it',
          String(a.status));
    const b = await fetch(cfg.api + '/auth/refresh', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refresh_token: lastRefresh }) });
    check(b.status === 401, 'so is its refresh token', String(b.status));
    check(await page.evaluate(() => localStorage.getItem('ngx_chat.session'))
          === null, 'nothing of the session is left in the page');
    await page.fill('#login-user', alice);
    await page.fill('#login-password', cfg.password);
    await page.click('#login-submit');
    await waitCheck('logging in again', () =>
        page.waitForSelector('#status[data-state="online"]'));
    await openRoom(page, R);
    await waitCheck('... shows the room as it was', () =>
        listIs(page, bodies[R]));
}

await finish();
