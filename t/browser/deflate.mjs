// Chromium's own WebSocket and permessage-deflate: two pages of the
// origin open /chat/ws (Chromium offers compression by itself), see it
// negotiated in ws.extensions, join a room, send messages long enough to
// be compressed both ways, and each reads every message of the other in
// order with its exact body.  Run by t/191-deflate-browser.t.

import { cfg, base, check, launch, finish, userContext } from './lib.mjs';

const room = cfg.room;
const bodies = [1, 2, 3, 4, 5].map((i) =>
    `message ${i} from the page: ` + 'the quick brown fox jumps over '
    + 'the lazy dog, '.repeat(i * 4) + 'é☃ end');

await launch();
const pages = [];
for (const user of cfg.names) {
    const ctx = await userContext('nobody');
    const page = await ctx.newPage();
    await page.goto(base + '/');
    pages.push({ user, page });
}

// connect, authenticate, join: what ws.extensions says
const ext = await Promise.all(pages.map(({ user, page }) =>
    page.evaluate(([token, room]) => new Promise((resolve, reject) => {
        const ws = new WebSocket('ws://' + location.host + '/chat/ws',
                                 'chat.v1');
        window.got = [];
        window.ws = ws;
        ws.onmessage = (e) => {
            const m = JSON.parse(e.data);
            if (m.type === 'welcome') {
                ws.send(JSON.stringify({ type: 'join', id: 'j', room }));
            } else if (m.id === 'j') {
                resolve(ws.extensions);
            } else if (m.type === 'message') {
                window.got.push({ from: m.from, body: m.body });
            }
        };
        ws.onopen = () => ws.send(JSON.stringify(
            { type: 'auth', id: 'a', token }));
        ws.onclose = (e) => reject(new Error('closed ' + e.code));
        setTimeout(() => reject(new Error('no join answer')), 8000);
    }), [cfg.users[user], room])));

for (const [i, e] of ext.entries()) {
    check(/^permessage-deflate/.test(e) && /client_no_context_takeover/.test(e)
          && /server_no_context_takeover/.test(e),
          `page ${i}: permessage-deflate negotiated`, e);
}

// each page sends its messages, compressed by Chromium
for (const { page } of pages) {
    await page.evaluate(([bodies, room]) => {
        bodies.forEach((body, i) => window.ws.send(JSON.stringify(
            { type: 'send', id: 't' + i, room, body })));
    }, [bodies, room]);
}

for (const [i, { page }] of pages.entries()) {
    const other = pages[1 - i].user;
    const ok = await page.waitForFunction(([other, n]) =>
        window.got.filter((m) => m.from === other).length >= n,
        [other, bodies.length], { timeout: 10000 }).then(() => true,
                                                         () => false);
    const got = await page.evaluate((other) =>
        window.got.filter((m) => m.from === other).map((m) => m.body),
        other);
    check(ok && JSON.stringify(got) === JSON.stringify(bodies),
          `page ${i}: every message of the other page, in order, exact`,
          JSON.stringify(got).slice(0, 500));
    check(await page.evaluate(() => window.ws.readyState === 1),
          `page ${i}: still open`);
}

await finish();
