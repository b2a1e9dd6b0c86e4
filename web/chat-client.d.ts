// Types of chat-client.js, the browser client of the ngx_chat protocol
// (docs/protocol.md and protocol.md, version 1).

/** Returns a JWT. reason: "connect" (a new connection), "refresh" (before
 *  the current token expires), "expired" (the server refused the token:
 *  refresh it), "api" (a REST call). Throwing a ChatError with code
 *  "unauthenticated" (or status 401) stops the client; any other error
 *  is retried later. */
export type TokenProvider =
    (reason: 'connect' | 'refresh' | 'expired' | 'api') => Promise<string>;

export interface ChatClientOptions {
    /** The only origin the client talks to, "https://host[:port]"; the
     *  WebSocket URL is this origin's host with ws: or wss:. */
    origin: string;
    /** A token, or a provider called on every connect and for refresh. */
    token: string | TokenProvider;
    /** Path of the chat_ws location (default "/chat/ws"). */
    wsPath?: string;
    /** Path of the chat_api location (default "/chat/api"). */
    apiPath?: string;
    /** Where the outbox is kept (default localStorage under storageKey);
     *  null keeps it in memory only. */
    storage?: OutboxStorage | null;
    storageKey?: string;
    /** Reconnect backoff: the first delay and the cap, ms (500, 30000);
     *  each delay is half fixed, half random (jitter). */
    backoffMin?: number;
    backoffMax?: number;
    /** ping request interval and the wait for its pong, ms (25000, 10000). */
    pingInterval?: number;
    pongTimeout?: number;
    /** history page size used to fill a truncated replay (100). */
    historyPage?: number;
}

export interface OutboxStorage {
    load(): OutboxEntry[];
    save(entries: OutboxEntry[]): void;
}

export declare class LocalOutboxStorage implements OutboxStorage {
    constructor(key: string);
    load(): OutboxEntry[];
    save(entries: OutboxEntry[]): void;
}

export interface OutboxEntry {
    client_msg_id: string;
    room: string;
    body: string;
    user: string | null;
    created: number;
    state: 'pending' | 'failed';
    error?: { code: string; message: string };
    reply_to?: number;
    meta?: unknown;
}

export interface Message {
    room: string;
    seq: number;
    rev: number;
    msg_id: number;
    from: string;
    name?: string;
    body?: string;
    ts: number;
    client_msg_id?: string;
    reply_to?: number;
    meta?: unknown;
    edited_at?: number;
    deleted?: boolean;
}

export interface HistoryPage {
    room: string;
    messages: Message[];
    has_more: boolean;
}

export type ConnectionState =
    'idle' | 'connecting' | 'online' | 'reconnecting' | 'offline' |
    'unauthorized' | 'forbidden' | 'closed';

export interface ChatEventMap {
    state: CustomEvent<{ state: ConnectionState; attempt: number;
                         retryAt?: number; delay?: number; code?: number;
                         reason?: string; user?: string }>;
    welcome: CustomEvent<{ user: string; expires_at: number;
                           server_time: number }>;
    joined: CustomEvent<{ room: string; seq: number; rev: number;
                          truncated: boolean }>;
    /** Each message once: source "live", "replay" (rejoin) or "history"
     *  (a truncated replay being filled in). */
    message: CustomEvent<{ message: Message;
                           source: 'live' | 'replay' | 'history' }>;
    edited: CustomEvent<{ room: string; seq: number; rev: number;
                          body: string; edited_at: number; by: string }>;
    deleted: CustomEvent<{ room: string; seq: number; rev: number;
                           by: string }>;
    member: CustomEvent<{ room: string; user: string; rev: number;
                          action: string; by?: string; role?: string;
                          until?: number }>;
    room: CustomEvent<{ room: string; rev: number; name?: string;
                        topic?: string; private: boolean }>;
    typing: CustomEvent<{ room: string; user: string; stop?: boolean }>;
    presence: CustomEvent<{ room: string; user: string;
                            state: 'online' | 'offline' }>;
    receipt: CustomEvent<{ room: string; user: string; seq: number;
                           state: 'read' | 'delivered' }>;
    /** The outbox changed (queued, acknowledged, failed, discarded). */
    outbox: CustomEvent<{ entries: OutboxEntry[] }>;
    /** A queued message was acknowledged (committed). */
    sent: CustomEvent<{ client_msg_id: string; room: string; seq: number;
                        rev: number; msg_id: number; ts: number }>;
    error: CustomEvent<ChatError>;
}

export declare class ChatError extends Error {
    code: string;
    status?: number;
    retry_after?: number;
}

export declare class ChatClient extends EventTarget {
    constructor(options: ChatClientOptions);
    readonly origin: string;
    readonly wsUrl: string;
    readonly state: ConnectionState;
    /** The user of the last welcome (or the token's sub before it). */
    readonly user: string | null;

    connect(): void;
    close(): void;
    /** Reconnect now instead of after the backoff. */
    reconnect(): void;

    /** Joins now or on the next welcome; rejoined after every reconnect
     *  with since_rev. */
    join(room: string): Promise<{ room: string; seq: number; rev: number;
                                  truncated?: boolean }>;
    leave(room: string): Promise<void>;
    position(room: string): { rev: number; seq: number };

    history(room: string, opts?: { before?: number; after?: number;
                                   limit?: number }): Promise<HistoryPage>;
    /** Queued in the outbox; resolves with the send's ok once committed. */
    send(room: string, body: string,
         opts?: { reply_to?: number; meta?: unknown;
                  client_msg_id?: string }): Promise<{ room: string;
                      seq: number; rev: number; msg_id: number; ts: number }>;
    edit(room: string, seq: number, body: string): Promise<any>;
    delete(room: string, seq: number): Promise<any>;
    read(room: string, seq: number,
         state?: 'read' | 'delivered'): Promise<any>;
    typing(room: string, stop?: boolean): void;
    presence(room: string): Promise<{ room: string; users: string[] }>;
    /** Any request frame on the current connection. */
    request(frame: object): Promise<any>;

    outbox(room?: string): OutboxEntry[];
    retry(clientMsgId: string): void;
    discard(clientMsgId: string): void;

    /** A REST call on the origin: api("GET", "/rooms"). */
    api(method: string, path: string, body?: unknown): Promise<any>;
    token(reason: string): Promise<string>;

    addEventListener<K extends keyof ChatEventMap>(type: K,
        listener: (ev: ChatEventMap[K]) => void,
        options?: boolean | AddEventListenerOptions): void;
    addEventListener(type: string,
        listener: EventListenerOrEventListenerObject | null,
        options?: boolean | AddEventListenerOptions): void;
}

export declare function readJson(res: Response): Promise<any>;
