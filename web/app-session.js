/*
 * The app's session: sign-up, login, the access and refresh tokens
 * (protocol.md section 10), kept in localStorage, and the token provider
 * that the chat client calls on every connect and before expiry.
 *
 * A session is {user, access_token, expires_at, refresh_token?}.  A token
 * pasted by hand (a deployment without chat_accounts) has no refresh
 * token: when it expires, the page asks to log in again.
 */

import { ChatError, readJson } from './chat-client.js';

const KEY = 'ngx_chat.session';
const EARLY = 60;           /* refresh that many seconds before exp */

function claims(token) {
    try {
        let p = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
        while (p.length % 4) {
            p += '=';
        }
        return JSON.parse(new TextDecoder().decode(
            Uint8Array.from(atob(p), (c) => c.charCodeAt(0))));
    } catch (e) {
        return null;
    }
}

export class Session {
    constructor(apiBase) {
        /* the API of this page's own origin, nothing else */
        this.api = new URL(apiBase, location.origin);
        if (this.api.origin !== location.origin) {
            throw new TypeError('the API must be on the page origin');
        }
        this.refreshing = null;
    }

    load() {
        try {
            const s = JSON.parse(localStorage.getItem(KEY));
            return s && typeof s.access_token === 'string' ? s : null;
        } catch (e) {
            return null;
        }
    }

    save(s) {
        localStorage.setItem(KEY, JSON.stringify(s));
    }

    clear() {
        localStorage.removeItem(KEY);
    }

    user() {
        const s = this.load();
        return s ? s.user : null;
    }

    /* The roles claim of the access token (admin, moderator act in
     * every room: protocol.md section 9). */
    roles() {
        const s = this.load();
        const c = s && claims(s.access_token);
        return c && Array.isArray(c.roles) ? c.roles : [];
    }

    async _post(path, body, token) {
        const headers = { 'Content-Type': 'application/json' };
        if (token) {
            headers.Authorization = 'Bearer ' + token;
        }
        const res = await fetch(new URL(this.api.pathname + path,
                                        location.origin).href,
                                { method: 'POST', headers, cache: 'no-store',
                                  credentials: 'omit',
                                  body: JSON.stringify(body || {}) });
        return readJson(res);
    }

    register(user, password, name) {
        const body = { user, password };
        if (name) {
            body.name = name;
        }
        return this._post('/auth/register', body);
    }

    async login(user, password) {
        const t = await this._post('/auth/login', { user, password });
        const c = claims(t.access_token);
        this.save({ user: c && c.sub ? c.sub : user,
                    access_token: t.access_token,
                    expires_at: t.expires_at, refresh_token: t.refresh_token });
    }

    /* A token pasted by hand: its claims say who and until when. */
    useToken(token) {
        const c = claims(token);
        if (!c || typeof c.sub !== 'string') {
            throw new Error('this is not a JWT with a sub claim');
        }
        this.save({ user: c.sub, access_token: token,
                    expires_at: typeof c.exp === 'number' ? c.exp : 0 });
    }

    /* Revokes the session on the server (with a token that is still
     * valid), and forgets it here in any case. */
    async logout() {
        const s = this.load();
        if (s && s.refresh_token) {
            try {
                const token = await this.token('api');
                this.clear();
                await this._post('/auth/logout', {}, token);
            } catch (e) {
                /* logged out here in any case */
            }
        }
        this.clear();
    }

    /* The token provider of the chat client.  reason "expired": the
     * server refused the token, so a refresh is due whatever exp says. */
    async token(reason) {
        const s = this.load();
        if (!s) {
            throw new ChatError('unauthenticated', 'logged out');
        }
        const now = Date.now() / 1000;
        const due = s.expires_at && s.expires_at - now < EARLY;
        if (!due && reason !== 'expired' && reason !== 'refresh') {
            return s.access_token;
        }
        if (!s.refresh_token) {
            if (s.expires_at && s.expires_at <= now) {
                throw new ChatError('unauthenticated', 'the token has expired');
            }
            return s.access_token;
        }
        if (!this.refreshing) {
            this.refreshing = this._refresh(s.access_token)
                .finally(() => { this.refreshing = null; });
        }
        return this.refreshing;
    }

    /* One refresh at a time across this origin's tabs (a spent refresh
     * token presented again revokes the session): under a Web Lock, and
     * not at all when another tab has refreshed meanwhile. */
    async _refresh(seen) {
        const run = async () => {
            const s = this.load();
            if (!s) {
                throw new ChatError('unauthenticated', 'logged out');
            }
            if (s.access_token !== seen) {
                return s.access_token;
            }
            let t;
            try {
                t = await this._post('/auth/refresh',
                                     { refresh_token: s.refresh_token });
            } catch (e) {
                if (e.status === 401) {
                    this.clear();
                }
                throw e;
            }
            const now = this.load();
            if (!now || now.refresh_token !== s.refresh_token) {
                /* logged out meanwhile: keep it so */
                throw new ChatError('unauthenticated', 'logged out');
            }
            this.save({ user: s.user, access_token: t.access_token,
                        expires_at: t.expires_at,
                        refresh_token: t.refresh_token });
            return t.access_token;
        };
        if (navigator.locks) {
            return navigator.locks.request('ngx_chat.refresh', run);
        }
        return run();
    }
}
