// chat-client.js on its own, imported into a page of the origin: only
// that origin is accepted; the token provider is called again after a
// 4001 and before the token expires (the connection outlives the first
// token); reconnect delays back off exponentially with jitter, and the
// browser's online event reconnects at once; events the network delivers
// twice reach the page once.  Run by t/132-browser-sdk.t.

import crypto from 'node:crypto';
import { cfg, base, check, waitCheck, launch, finish, userContext,
         api } from './lib.mjs';

// An HS256 JWT signed with the harness's secret (or another).
function jwt(claims, secret) {
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const input = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64(claims);
    return input + '.' + crypto.createHmac('sha256', secret || cfg.secret)
        .update(input).digest('base64url');
}

const [alice, bob] = cfg.names;
const room = cfg.room;
const good = cfg.users[alice];
const bad = jwt({ sub: alice, exp: Math.floor(Date.now() / 1000) + 600 },
                'not the secret');

await launch();
const ctx = await userContext('nobody');     /* no session: login page */
const page = await ctx.newPage();
await page.goto(base + '/');
await page.evaluate(async () => {
    window.cc = await import('/chat-client.js');
});

// ---- the origin, and nothing else
const refused = await page.evaluate(() => {
    const o = location.origin;
    const tries = [
        { origin: 'http://127.0.0.1:9/x' },
        { origin: 'javascript:alert(1)' },
        { origin: o, wsPath: '//127.0.0.1:9/chat/ws' },
        { origin: o, wsPath: '/\\127.0.0.1:9/chat/ws' },
        { origin: o, wsPath: 'ws://127.0.0.1:9/chat/ws' },
        { origin: o, apiPath: 'http://127.0.0.1:9/chat/api' },
        { origin: o, apiPath: '//127.0.0.1:9' }
    ];
    return tries.map((t) => {
        try {
            new window.cc.ChatClient(Object.assign({ token: 'x' }, t));
            return 'accepted ' + JSON.stringify(t);
        } catch (e) {
            return 'refused';
        }
    });
});
check(refused.every((r) => r === 'refused'),
      'an origin with a path, or paths leaving the origin, are refused',
      JSON.stringify(refused));
check(await page.evaluate(() => new window.cc.ChatClient(
          { origin: location.origin, token: 'x' }).wsUrl
          === 'ws://' + location.host + '/chat/ws'),
      'the WebSocket URL is the origin\'s host');

// ---- the token provider: a refused token, then one that expires
let exp = 0;
await page.exposeFunction('shortToken', () => {
    const now = Math.floor(Date.now() / 1000);
    exp = now + 6;
    return jwt({ sub: alice, iat: now, exp });
});
await page.evaluate(([bad, good]) => {
    window.calls = [];
    window.states = [];
    const c = new window.cc.ChatClient({
        origin: location.origin, storage: null,
        token: async (why) => {
            window.calls.push(why);
            const n = window.calls.length;
            return n === 1 ? bad : n === 2 ? window.shortToken() : good;
        }
    });
    c.addEventListener('state', (ev) => window.states.push(ev.detail.state));
    c.connect();
    window.tc = c;
}, [bad, good]);
await waitCheck('a token refused with 4001: the provider gives another', () =>
    page.waitForFunction(() => window.tc.state === 'online'));
await waitCheck('the provider is asked again before the token expires', () =>
    page.waitForFunction(() => window.calls.includes('refresh')), 15000);
await waitCheck('the connection outlives the first token', () =>
    page.waitForFunction((exp) => Date.now() / 1000 > exp + 1.5, exp,
                         { timeout: 15000 }), 15000);
const t = await page.evaluate(() => [window.calls, window.states,
                                     window.tc.state]);
check(t[2] === 'online' && t[1].lastIndexOf('online') === t[1].length - 1
      && t[1].filter((s) => s === 'online').length === 1,
      'still online, never reconnected', JSON.stringify(t));
check(JSON.stringify(t[0]) === '["connect","expired","refresh"]',
      'the provider was called to connect, after 4001, to refresh',
      JSON.stringify(t[0]));
await page.evaluate(() => window.tc.close());

// ---- a provider that cannot reach its server is asked again later; one
// that says the user is logged out stops the client
const prov = await page.evaluate(async (good) => {
    const cc = window.cc;
    const reach = (c, st) => Promise.race([
        new Promise((res) => c.addEventListener('state', (ev) => {
            if (ev.detail.state === st) {
                res(st);
            }
        })),
        new Promise((res) => setTimeout(() => res('timeout'), 10000))]);
    let n = 0;
    const states = [];
    const c1 = new cc.ChatClient({ origin: location.origin, storage: null,
                                   backoffMin: 20, token: async () => {
        if (++n === 1) {
            throw new TypeError('Failed to fetch');
        }
        return good;
    } });
    c1.addEventListener('state', (ev) => states.push(ev.detail.state));
    c1.connect();
    const a = await reach(c1, 'online');
    c1.close();
    const c2 = new cc.ChatClient({ origin: location.origin, storage: null,
                                   token: async () => {
        throw new cc.ChatError('unauthenticated', 'logged out');
    } });
    c2.connect();
    const b = await reach(c2, 'unauthorized');
    return [a, states.slice(0, 4), b, c2.state];
}, good);
check(prov[0] === 'online' && prov[1].join() ===
      'connecting,reconnecting,connecting,online',
      'a provider that failed to fetch: tried again, then online',
      JSON.stringify(prov));
check(prov[2] === 'unauthorized' && prov[3] === 'unauthorized',
      'a provider saying unauthenticated: the client stops',
      JSON.stringify(prov));

// ---- backoff with jitter, against a server that closes at once
const p2 = await ctx.newPage();
await p2.routeWebSocket(/\/chat\/ws$/, (ws) => {
    ws.close({ code: 1011, reason: 'refused by the test' });
});
await p2.goto(base + '/');
await p2.evaluate(async (good) => {
    const cc = await import('/chat-client.js');
    window.delays = [];
    window.log = [];
    const c = new cc.ChatClient({ origin: location.origin, storage: null,
                                  token: good, backoffMin: 40,
                                  backoffMax: 320 });
    c.addEventListener('state', (ev) => {
        window.log.push([ev.detail.state, performance.now()]);
        if (ev.detail.state === 'reconnecting') {
            window.delays.push(ev.detail.delay);
        }
    });
    window.addEventListener('online', () =>
        window.log.push(['online-event', performance.now()]));
    c.connect();
    window.bc = c;
}, good);
await waitCheck('it retries, again and again', () =>
    p2.waitForFunction(() => window.delays.length >= 8));
const delays = await p2.evaluate(() => window.delays.slice(0, 8));
const caps = delays.map((_, i) => Math.min(320, 40 * 2 ** i));
check(delays.every((d, i) => d >= caps[i] / 2 && d <= caps[i]),
      'each delay is between half and all of the doubled cap',
      JSON.stringify([delays, caps]));
check(new Set(delays.slice(4).map((d) => d)).size > 1,
      'delays at the cap are spread (jitter)', JSON.stringify(delays));
await ctx.setOffline(true);
await waitCheck('offline: it stops trying', () =>
    p2.waitForFunction(() => window.bc.state === 'offline'));
await ctx.setOffline(false);
await waitCheck('the online event reconnects at once', () =>
    p2.waitForFunction(() => {
        const l = window.log;
        const i = l.findIndex((x) => x[0] === 'online-event');
        const j = l.findIndex((x, k) => k > i && x[0] === 'connecting');
        return i >= 0 && j > i && l[j][1] - l[i][1] < 15;
    }));
await p2.evaluate(() => window.bc.close());
await p2.close();

// ---- events delivered twice reach the page once
const p3 = await ctx.newPage();
await p3.routeWebSocket(/\/chat\/ws$/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((m) => server.send(m));
    server.onMessage((m) => {
        ws.send(m);
        if (JSON.parse(m).id === undefined) {
            ws.send(m);
        }
    });
});
await p3.goto(base + '/');
await p3.evaluate(async ([good, room]) => {
    const cc = await import('/chat-client.js');
    window.got = [];
    const c = new cc.ChatClient({ origin: location.origin, storage: null,
                                  token: good });
    for (const t of ['message', 'edited', 'deleted']) {
        c.addEventListener(t, (ev) => window.got.push(
            [t, ev.detail.seq || ev.detail.message.seq]));
    }
    c.connect();
    await c.join(room);
    window.dc = c;
}, [good, room]);
for (const body of ['one', 'two', 'three']) {
    await api(bob, 'POST', `/rooms/${room}/messages`, { body });
}
await api(bob, 'PATCH', `/rooms/${room}/messages/2`, { body: 'two!' });
await api(bob, 'DELETE', `/rooms/${room}/messages/3`);
await waitCheck('every event arrives', () =>
    p3.waitForFunction(() => window.got.some((x) => x[0] === 'deleted')));
const got = await p3.evaluate(() => window.got);
check(JSON.stringify(got) === JSON.stringify(
          [['message', 1], ['message', 2], ['message', 3], ['edited', 2],
           ['deleted', 3]]),
      'each once, in order', JSON.stringify(got));

await finish();
