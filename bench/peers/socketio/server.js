'use strict';
// Socket.IO 4 + @socket.io/redis-adapter comparison peer for the ngx_chat
// benchmark.  The cluster primary forks WORKERS processes that share one
// listening port (WebSocket transport only, so no sticky sessions); rooms
// are channels; Redis pub/sub carries broadcasts between the workers.
//
// Environment: HOST (127.0.0.1), PORT (18970), WORKERS (2),
// REDIS_HOST (127.0.0.1), REDIS_PORT (26469), PING_INTERVAL (ms, 25000),
// PING_TIMEOUT (ms, 20000).  NODE_CLUSTER_SCHED_POLICY=none lets the
// workers accept() themselves instead of the primary's round robin.
//
// Protocol (Socket.IO v5 over Engine.IO v4, see README.md):
//   emit('join', room, ack)         -> socket.join(room); ack({ok, room})
//   emit('send', {room, body}, ack) -> io.to(room).emit('message',
//                                        {room, body, from: socket.id});
//                                      ack({ok, id})

const cluster = require('node:cluster');

const HOST = process.env.HOST || '127.0.0.1';
const PORT = parseInt(process.env.PORT || '18970', 10);
const WORKERS = parseInt(process.env.WORKERS || '2', 10);
const REDIS_HOST = process.env.REDIS_HOST || '127.0.0.1';
const REDIS_PORT = parseInt(process.env.REDIS_PORT || '26469', 10);
const PING_INTERVAL = parseInt(process.env.PING_INTERVAL || '25000', 10);
const PING_TIMEOUT = parseInt(process.env.PING_TIMEOUT || '20000', 10);

const who = cluster.isPrimary ? 'primary' : `worker ${cluster.worker.id}`;

function log(...args) {
    console.log(new Date().toISOString(), `[${who} ${process.pid}]`, ...args);
}

// Under overload the Redis adapter / client can reject promises or throw
// from timers; log instead of dying, so the peer is measured, not its crash.
process.on('unhandledRejection', (reason) => {
    log('unhandledRejection:', reason && reason.stack ? reason.stack : reason);
});
process.on('uncaughtException', (err) => {
    log('uncaughtException:', err && err.stack ? err.stack : err);
});

if (cluster.isPrimary) {
    log(`primary pid ${process.pid}: forking ${WORKERS} workers for ` +
        `${HOST}:${PORT}, redis ${REDIS_HOST}:${REDIS_PORT}, ` +
        `pingInterval ${PING_INTERVAL} pingTimeout ${PING_TIMEOUT}, ` +
        `scheduling ${cluster.schedulingPolicy === cluster.SCHED_RR ?
            'round-robin (primary accepts)' : 'none (workers accept)'}`);

    let listening = 0;
    let stopping = false;

    for (let i = 0; i < WORKERS; i++) {
        cluster.fork();
    }
    cluster.on('fork', (w) => {
        log(`worker ${w.id} pid ${w.process.pid} forked`);
    });
    cluster.on('listening', (w, addr) => {
        listening++;
        log(`worker ${w.id} pid ${w.process.pid} listening on ` +
            `${addr.address}:${addr.port}`);
        if (listening === WORKERS) {
            const pids = Object.values(cluster.workers)
                .map((x) => x.process.pid).join(' ');
            log(`ready: primary ${process.pid} workers ${pids}`);
        }
    });
    cluster.on('exit', (w, code, signal) => {
        // Not re-forked on purpose: a respawned worker would hide the crash
        // from the benchmark (and have a pid the CPU accounting misses).
        log(`worker ${w.id} pid ${w.process.pid} exited ` +
            `(code ${code}, signal ${signal})` + (stopping ? '' : ' UNEXPECTEDLY'));
        if (Object.keys(cluster.workers).length === 0) {
            log('no workers left, exiting');
            process.exit(stopping ? 0 : 1);
        }
    });

    const stop = (sig) => {
        if (stopping) return;
        stopping = true;
        log(`${sig}: stopping workers`);
        for (const w of Object.values(cluster.workers)) {
            w.process.kill('SIGTERM');
        }
        setTimeout(() => {
            for (const w of Object.values(cluster.workers)) {
                w.process.kill('SIGKILL');
            }
            process.exit(0);
        }, 5000).unref();
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
} else {
    runWorker();
}

async function runWorker() {
    const http = require('node:http');
    const { Server } = require('socket.io');
    const { createAdapter } = require('@socket.io/redis-adapter');
    const { createClient } = require('redis');

    // As in the adapter's README (redis package v4): one client publishes,
    // a duplicate subscribes.
    const pubClient = createClient({
        url: `redis://${REDIS_HOST}:${REDIS_PORT}`,
    });
    const subClient = pubClient.duplicate();
    // node-redis emits 'error' on connection problems; without a listener
    // that would be an uncaught exception.
    pubClient.on('error', (e) => log('redis pub error:', e.message || e));
    subClient.on('error', (e) => log('redis sub error:', e.message || e));
    await Promise.all([pubClient.connect(), subClient.connect()]);

    const httpServer = http.createServer((req, res) => {
        res.writeHead(404);
        res.end();
    });
    const io = new Server(httpServer, {
        transports: ['websocket'],  // no long-polling: no sticky sessions
        allowUpgrades: false,
        perMessageDeflate: false,   // the default in engine.io >= 4; explicit
        httpCompression: false,
        serveClient: false,
        pingInterval: PING_INTERVAL,
        pingTimeout: PING_TIMEOUT,
        adapter: createAdapter(pubClient, subClient),
    });

    let nextId = 0;
    const idPrefix = `${cluster.worker.id}-`;

    io.on('connection', (socket) => {
        socket.on('join', (room, ack) => {
            if (typeof room !== 'string' || room === '') {
                if (typeof ack === 'function') {
                    ack({ ok: false, error: 'room must be a non-empty string' });
                }
                return;
            }
            socket.join(room);
            if (typeof ack === 'function') ack({ ok: true, room });
        });

        socket.on('send', (msg, ack) => {
            if (!msg || typeof msg.room !== 'string' || msg.room === '') {
                if (typeof ack === 'function') {
                    ack({ ok: false, error: 'expected {room, body}' });
                }
                return;
            }
            const id = idPrefix + (++nextId);
            io.to(msg.room).emit('message',
                { room: msg.room, body: msg.body, from: socket.id });
            if (typeof ack === 'function') ack({ ok: true, id });
        });
    });

    io.engine.on('connection_error', (err) => {
        log('engine connection_error:', err.code, err.message);
    });

    const stop = () => {
        io.close();   // closes the HTTP server and all clients
        Promise.allSettled([pubClient.quit(), subClient.quit()])
            .finally(() => process.exit(0));
        setTimeout(() => process.exit(0), 2000).unref();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);

    httpServer.listen(PORT, HOST);
}
