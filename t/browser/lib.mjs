// The browser tests' helpers: Chromium through playwright-core, users in
// their own contexts, checks reported as JSON lines that the .t file turns
// into TAP (one `ok` each), screenshots under build/test-artifacts/.
//
// The .t file passes CHAT_BROWSER (JSON): {base, api, artifacts, users:
// {name: token}, accounts: bool, password}.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

export const cfg = JSON.parse(process.env.CHAT_BROWSER);
export const base = cfg.base;
const CHROMIUM = process.env.CHAT_CHROMIUM || '/usr/bin/chromium';
const WAIT = 10000;

let browser = null;
const pages = [];
let failures = 0;

function report(o) {
    process.stdout.write(JSON.stringify(o) + '\n');
}

export function check(ok, name, diag) {
    if (!ok) {
        failures++;
    }
    report({ ok: !!ok, name, diag: ok ? undefined : diag });
    return !!ok;
}

// A check that awaits a condition: ok when it holds within `ms`.
export async function waitCheck(name, fn, ms) {
    try {
        await fn(ms || WAIT);
        return check(true, name);
    } catch (e) {
        return check(false, name, String(e && e.message || e).slice(0, 2000));
    }
}

// An exception ends the script as a failed check, with a screenshot of
// every page open.
process.on('uncaughtException', async (e) => {
    check(false, 'the scenario ran without an exception',
          String(e && e.stack || e).slice(0, 3000));
    for (const [i, p] of pages.entries()) {
        try {
            await shot(p, 'failure-' + i);
        } catch (x) {
            /* closed */
        }
    }
    await finish();
});

export async function launch() {
    browser = await chromium.launch({ executablePath: CHROMIUM,
                                      headless: true,
                                      args: ['--no-sandbox'] });
    return browser;
}

export async function finish() {
    if (browser) {
        await browser.close();
    }
    report({ done: true, failures });
    process.exit(0);
}

export async function shot(page, name) {
    fs.mkdirSync(cfg.artifacts, { recursive: true });
    await page.screenshot({ path: path.join(cfg.artifacts, name + '.png') });
}

// A user's browser context; with a token, its session is put into
// localStorage before the app loads (as a login would have left it).
export async function userContext(user, opts) {
    const ctx = await browser.newContext(Object.assign(
        { viewport: { width: 1100, height: 760 } }, opts || {}));
    const token = cfg.users && cfg.users[user];
    if (token && !cfg.accounts) {
        const s = JSON.stringify({ user, access_token: token,
                                   expires_at: Math.floor(Date.now() / 1000)
                                               + 3600 });
        await ctx.addInitScript((s) => {
            if (!localStorage.getItem('ngx_chat.session')) {
                localStorage.setItem('ngx_chat.session', s);
            }
        }, s);
    }
    ctx.setDefaultTimeout(WAIT);
    return ctx;
}

// Opens the app; with accounts on, signs up (first time) or logs in
// through the page's own form.
export async function openApp(ctx, user, how) {
    const page = await ctx.newPage();
    page.on('pageerror', (e) => report({ diag: user + ': page error: '
                                               + e.message }));
    page.on('console', (m) => {
        if ((m.type() === 'error' || m.type() === 'warning')
            && !m.text().startsWith('Failed to load resource'))
        {
            report({ diag: user + ': console: ' + m.text() });
        }
    });
    pages.push(page);
    await page.goto(base + '/');
    if (cfg.accounts && how) {
        if (how === 'signup') {
            await page.click('#tab-signup');
        }
        await page.fill('#login-user', user);
        await page.fill('#login-password', cfg.password);
        await page.click('#login-submit');
    }
    await online(page);
    return page;
}

export async function online(page) {
    await page.waitForSelector('#status[data-state="online"]');
}

export async function reload(page) {
    await page.reload();
    await online(page);
}

export async function openRoom(page, room) {
    await page.click(`#rooms li[data-room="${room}"]`);
    await page.waitForSelector(`#room-title`);
}

// The texts of the messages shown, in order, and their seqs.
export async function shown(page) {
    return page.$$eval('#list .msg', (ns) => ns.map((n) => ({
        seq: +n.dataset.seq,
        from: n.dataset.from,
        text: n.querySelector('.text').textContent,
        tick: n.querySelector('.ticks') && n.querySelector('.ticks')
            .dataset.tick,
        edited: !!n.querySelector('.edited'),
        deleted: n.classList.contains('deleted')
    })));
}

export async function send(page, text) {
    await page.fill('#body', text);
    await page.press('#body', 'Enter');
}

export async function unreadOf(page, room) {
    return page.$eval(`#rooms li[data-room="${room}"] .unread`,
                      (b) => (b.hidden ? 0 : +b.textContent));
}

// A REST call as a user (the tests' second actor, or setup): user is a
// name in cfg.users, or {token}.
export async function api(user, method, p, body) {
    const token = typeof user === 'object' ? user.token : cfg.users[user];
    const init = { method, headers: { Authorization: 'Bearer ' + token } };
    if (body !== undefined) {
        init.headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(body);
    }
    const res = await fetch(cfg.api + p, init);
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
}

// Awaits fn() (async) returning something truthy, polling every 100 ms.
export async function until(fn, ms) {
    const end = Date.now() + (ms || WAIT);
    for (;;) {
        const v = await fn();
        if (v) {
            return v;
        }
        if (Date.now() > end) {
            throw new Error('condition not met in time');
        }
        await new Promise((r) => setTimeout(r, 100));
    }
}

// The message list of the open room holds exactly these bodies (a
// deleted one as null), in seq order, each once.
export function listIs(page, bodies) {
    return page.waitForFunction((want) => {
        const ns = [...document.querySelectorAll('#list .msg')];
        const got = ns.map((n) => (n.classList.contains('deleted') ? null
            : n.querySelector('.text').textContent));
        const seqs = ns.map((n) => +n.dataset.seq);
        return JSON.stringify(got) === JSON.stringify(want)
            && seqs.every((s, i) => i === 0 || s === seqs[i - 1] + 1);
    }, bodies);
}
