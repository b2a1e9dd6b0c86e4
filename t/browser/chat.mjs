// Two users in two browser contexts: a room, messages both ways, typing,
// presence, edit, delete, a DM with ticks, search, moderation (a mute, a
// kick); then a crafted URL that must not send the token elsewhere, and a
// phone-sized viewport, also while reconnecting.  Run by t/130-browser-chat.t.

import net from 'node:net';
import { cfg, base, check, waitCheck, launch, finish, shot, userContext,
         openApp, openRoom, shown, send } from './lib.mjs';

const [alice, bob] = cfg.names;
const room = cfg.room;

await launch();
const ca = await userContext(alice);
const cb = await userContext(bob);
const pa = await openApp(ca, alice, 'signup');
const pb = await openApp(cb, bob, 'signup');
check(true, 'both users are connected');

// ---- a room: alice creates it, bob opens it by its id
async function newRoom(page, id) {
    await page.click('#new-room');
    await page.fill('#room-id', id);
    await page.click('#room-form button[type=submit]');
    await page.waitForSelector(`#rooms li[data-room="${id}"].current`);
}
await newRoom(pa, room);
await newRoom(pb, room);
check(true, 'alice creates the room, bob opens it by its id');

await waitCheck('alice sees 2 online in the room', () =>
    pa.waitForFunction(() => document.querySelector('#room-sub')
                       .textContent.startsWith('2 online')));

await send(pa, 'hello bob');
await waitCheck('bob gets alice\'s message', () =>
    pb.waitForSelector('#list .msg[data-from="' + alice
                       + '"] .text >> text="hello bob"'));
await send(pb, 'hi alice <b>not bold</b>');
await waitCheck('alice gets bob\'s reply, as text', () =>
    pa.waitForFunction(() => [...document.querySelectorAll('#list .text')]
        .some((n) => n.textContent === 'hi alice <b>not bold</b>')));
check(await pa.$('#list b') === null, 'no HTML from a message reaches the page');

// ---- typing
await pb.fill('#body', 'typing');
await pb.type('#body', '...');
await waitCheck('alice sees bob typing', () =>
    pa.waitForFunction((u) => {
        const s = document.querySelector('#room-sub');
        return s.dataset.kind === 'typing' && s.textContent.includes(u);
    }, bob));
await pb.fill('#body', '');
await pb.dispatchEvent('#body', 'input');
await waitCheck('the typing line ends when bob empties his composer', () =>
    pa.waitForFunction(() =>
        document.querySelector('#room-sub').dataset.kind === 'presence'));

// ---- edit and delete own messages
const first = (await shown(pa)).find((m) => m.text === 'hello bob');
await pa.click(`#list .msg[data-seq="${first.seq}"]`);
await pa.click(`#list .msg[data-seq="${first.seq}"] .msg-actions .edit`);
await pa.fill('#body', 'hello bob (edited)');
await pa.press('#body', 'Enter');
await waitCheck('bob sees the edit', () =>
    pb.waitForFunction((seq) => {
        const n = document.querySelector(`#list .msg[data-seq="${seq}"]`);
        return n && n.querySelector('.text').textContent
            === 'hello bob (edited)' && n.querySelector('.edited');
    }, first.seq));
await pa.click(`#list .msg[data-seq="${first.seq}"]`);
await pa.click(`#list .msg[data-seq="${first.seq}"] .msg-actions .delete`);
await waitCheck('bob sees the delete', () =>
    pb.waitForSelector(`#list .msg.deleted[data-seq="${first.seq}"]`));
const others = (await shown(pb)).filter((m) => m.from === alice);
check(others.length === 1, 'the deleted message is shown once, as deleted',
      JSON.stringify(others));
await shot(pa, '130-room-alice');

// ---- a DM: bob learns of it from his room list
await pa.click('#new-dm');
await pa.fill('#dm-user', bob);
await pa.click('#dm-form button[type=submit]');
const dm = 'dm:' + [alice, bob].sort().join(':');
await pa.waitForSelector(`#rooms li[data-room="${dm}"].current`);
await waitCheck('alice sees bob online in the DM', () =>
    pa.waitForFunction(() =>
        document.querySelector('#room-sub').textContent === 'online'));
await send(pa, 'psst, a secret');
await waitCheck('the DM appears in bob\'s room list with 1 unread', () =>
    pb.waitForFunction((dm) => {
        const b = document.querySelector(`#rooms li[data-room="${dm}"] .unread`);
        return b && !b.hidden && b.textContent === '1';
    }, dm), 20000);
await waitCheck('alice\'s message gets two ticks: delivered', () =>
    pa.waitForSelector('#list .msg.mine .ticks[data-tick="delivered"]'));
await openRoom(pb, dm);
await waitCheck('bob reads it: alice sees it read', () =>
    pa.waitForSelector('#list .msg.mine .ticks[data-tick="read"]'));
await waitCheck('bob\'s unread count goes to 0', () =>
    pb.waitForFunction((dm) => document.querySelector(
        `#rooms li[data-room="${dm}"] .unread`).hidden, dm));
await shot(pa, '130-dm-alice');

// ---- search
await pb.fill('#search', 'secret');
await pb.press('#search', 'Enter');
await waitCheck('bob finds the DM message by search', () =>
    pb.waitForSelector('#results .result-text >> text="psst, a secret"'));
await pb.click('#search-close');

// ---- moderation: alice owns the room and kicks bob
await openRoom(pa, room);
await openRoom(pb, room);
const bobs = (await shown(pa)).find((m) => m.from === bob);
await pa.click(`#list .msg[data-seq="${bobs.seq}"]`);
check(await pa.$(`#list .msg[data-seq="${bobs.seq}"] .msg-actions .kick`)
      !== null, 'the owner gets a moderation menu on others\' messages');
const own = (await shown(pb)).find((m) => m.from === bob);
await pb.click(`#list .msg[data-seq="${own.seq}"]`);
check(await pb.$('.msg-actions .kick') === null,
      'a member gets no moderation menu');
await pa.click(`#list .msg[data-seq="${bobs.seq}"] .msg-actions .mute`);
await waitCheck('alice mutes bob', () =>
    pa.waitForSelector('#toast >> text=/muted for 10 minutes/'));
await send(pb, 'while muted');
await waitCheck('bob\'s message while muted is refused: "not sent"', () =>
    pb.waitForSelector('#pending .msg[data-state="failed"]'));
await pb.click('#pending .msg[data-state="failed"] button >> text=Discard');
await waitCheck('... and he can discard it', () =>
    pb.waitForFunction(() => !document.querySelector('#pending .msg')));
await pa.click(`#list .msg[data-seq="${bobs.seq}"] .msg-actions .kick`);
await waitCheck('kicked, the room leaves bob\'s list', () =>
    pb.waitForFunction((r) =>
        !document.querySelector(`#rooms li[data-room="${r}"]`), room));

// ---- a crafted URL: the token goes to this origin only
const trap = net.createServer((s) => { trapHits++; s.destroy(); });
let trapHits = 0;
await new Promise((r) => trap.listen(0, '127.0.0.1', r));
const tp = trap.address().port;
const evil = `ws://127.0.0.1:${tp}/chat/ws`;
const seen = [];
const pc = await ca.newPage();
pc.on('request', (r) => seen.push(r.url()));
pc.on('websocket', (w) => seen.push(w.url()));
for (const u of [`/#ws=${evil}&auto=1&token=x`,
                 `/?ws=${encodeURIComponent(evil)}&api=http://127.0.0.1:${tp}/`
                 + `&origin=http://127.0.0.1:${tp}#ws=${evil}`]) {
    await pc.goto(base + u);
    await pc.waitForSelector('#status[data-state="online"]');
    await pc.reload();
    await pc.waitForSelector('#status[data-state="online"]');
}
const away = seen.filter((u) => !u.startsWith(base + '/')
                         && !u.startsWith(base.replace(/^http/, 'ws') + '/')
                         && !u.startsWith('data:'));
check(seen.some((u) => u.startsWith('ws')), 'the page opened its WebSocket',
      JSON.stringify(seen));
check(away.length === 0, 'every request and WebSocket goes to the origin',
      JSON.stringify(away));
check(trapHits === 0, 'nothing connected to the crafted address');
const tried = await pc.evaluate((u) => new Promise((resolve) => {
    try {
        const w = new WebSocket(u);
        w.onopen = () => resolve('open');
        w.onerror = () => resolve('refused');
    } catch (e) {
        resolve('refused');
    }
}), evil);
check(tried === 'refused' && trapHits === 0,
      'the page\'s CSP refuses a WebSocket to another origin', tried);
trap.close();
await pc.close();

// ---- a phone: 390x844
const phone = { viewport: { width: 390, height: 844 }, isMobile: true,
                hasTouch: true };
const cl = await userContext('nobody', phone);
const pl = await cl.newPage();
await pl.goto(base + '/');
await pl.waitForSelector('#login-user');
check(await pl.evaluate(() => document.documentElement.scrollWidth) <= 390,
      'the login page at 390 px: no horizontal overflow');
await shot(pl, '130-phone-login');
await cl.close();
const cm = await userContext(alice, phone);
const pm = await openApp(cm, alice, 'login');
const width = () => pm.evaluate(() => document.documentElement.scrollWidth);
check(await width() <= 390, 'room list at 390 px: no horizontal overflow',
      String(await width()));
await shot(pm, '130-phone-rooms');
await openRoom(pm, dm);
await pm.waitForSelector('#list .msg');
const h = await pm.$eval('#messages', (n) => n.getBoundingClientRect().height);
check(await width() <= 390, 'a room at 390 px: no horizontal overflow',
      String(await width()));
check(h >= 0.7 * 844, 'the message list gets most of the height', String(h));
await shot(pm, '130-phone-dm');
await pm.click('#back');
await pm.waitForSelector('#rooms', { state: 'visible' });
check(true, 'the back button returns to the rooms');

// a server that closes every connection: the page says it reconnects
await pm.routeWebSocket(/\/chat\/ws$/, (ws) => {
    ws.close({ code: 1011, reason: 'closed by the test' });
});
await pm.reload();
await waitCheck('the top bar shows the reconnect, with Retry now', () =>
    pm.waitForFunction(() => /^Reconnecting in \d+ s$/.test(
        document.querySelector('#status-text').textContent)
        && !document.querySelector('#retry-now').hidden));
check(await width() <= 390, '... and fits in 390 px', String(await width()));
await shot(pm, '130-phone-reconnecting');

await finish();
