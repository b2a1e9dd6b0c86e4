/*
 * chat-bench: the command line (see main.c and --help).
 */

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"


/* the options given, where a peer or scenario has its own default */

typedef struct {
    int                 port;
    int                 path;
    int                 senders;
    int                 conc;
    int                 pairs;
    int                 groups;
    int                 prefix;
    int                 retry;
} cb_set_t;


static void cb_usage(void);
static double cb_num(const char *name, const char *s, double min,
    double max);
static void cb_parse_rates(const char *arg);
static const cb_peer_t *cb_peer_by_name(const char *name);
static int cb_scenario_by_name(const char *name);
static void cb_defaults(void);
static void cb_option(int ch, const char *name, cb_set_t *set);
static void cb_check(void);
static void cb_scenario_defaults(cb_set_t *set);


const char  *cb_scenario_names[] = {
    "", "fanout", "rooms", "idle", "chat", "connect"
};


static const cb_peer_t  *cb_peers[] = {
    &cb_peer_ngx_chat, &cb_peer_limit, &cb_peer_nchan, &cb_peer_sio
};


static void
cb_usage(void)
{
    fprintf(stderr,
"usage: chat-bench --scenario S --secret FILE [options]\n"
"       chat-bench --scenario fanout|idle|connect --proto limit [--ports N]\n"
"                  [options]\n"
"       chat-bench --scenario S --proto nchan|sio [options]\n"
"  --scenario S        fanout: one room, --subs subscribers, --senders\n"
"                      senders; rooms: --rooms rooms of 2, one sender each;\n"
"                      chat: --pairs rooms of 2 plus --groups rooms of\n"
"                      --group-size from the same connections, everyone\n"
"                      sending to its rooms in turn; idle: --conns held\n"
"                      (memory, CPU while idle); connect: --conns opened\n"
"                      and joined as fast as possible, then closed;\n"
"                      soak: chat over --pairs 5000 --groups 10 at --rate\n"
"                      500 for --duration (60) s, reconnecting what closes,\n"
"                      with --churn; a line \"INTERVAL ...\" every\n"
"                      --interval s (see soak.c); reload (ngx_chat): soak's\n"
"                      shape at --rate 200 without churn, \"nginx -s\n"
"                      reload\" after --reload-after s, every closed\n"
"                      connection reconnecting after a random delay below\n"
"                      --reconnect-ms (1000): the reconnect rate over time,\n"
"                      failures, the time until all are back (see reload.c)\n"
"  --host ADDR         server address, 127.0.0.0/8 only (127.0.0.1)\n"
"  --port N            server port (8080; nchan 18980, sio 18970)\n"
"  --path PATH         WebSocket path (/chat/ws; sio /socket.io/, to which\n"
"                      ?EIO=4&transport=websocket is added; nchan: unused,\n"
"                      always /sub/<room> and /pub/<room>; chat: members\n"
"                      of two rooms /subm/<room1>/<room2>)\n"
"  --secret FILE       HS256 secret; trailing CR/LF stripped (ngx_chat)\n"
"  --proto P           ngx_chat, or limit: bench/peers/limit, fanout, idle\n"
"                      and connect only, no auth or join, one sender per\n"
"                      port, or nchan: bench/peers/nchan, or sio:\n"
"                      bench/peers/socketio (ngx_chat)\n"
"  --nchan-echo        nchan: one more subscriber per publisher, on its\n"
"                      room, standing for the sender's own copy that\n"
"                      ngx_chat and Socket.IO deliver (rooms: 2 members;\n"
"                      ignored by chat, idle and connect)\n"
"  --deflate           offer permessage-deflate (RFC 7692) in every\n"
"                      upgrade and inflate what comes compressed; the\n"
"                      report adds the bytes read per delivery\n"
"  --ports N           proto limit: limit's workers on PORT..PORT+N-1 (2)\n"
"  --subs N            fanout: subscribers in the room (1000)\n"
"  --senders N         fanout: sending connections (1)\n"
"  --rooms N           rooms: rooms of 2 members, one sender each (1000)\n"
"  --pairs N           chat: rooms of 2, over 2N connections (1000)\n"
"  --groups G          chat: rooms of --group-size (20)\n"
"  --group-size S      chat: connection k < G*S is in group k / S (50)\n"
"  --conns N           idle, connect: connections, rooms of 2 (idle 1000,\n"
"                      connect 5000)\n"
"  --rate R            messages/s offered in total (fanout 200, rooms 5000,\n"
"                      chat 2000)\n"
"  --rates R1,R2,...   fanout, rooms, chat: one step per rate on the same\n"
"                      connections, each warmed up, measured and drained,\n"
"                      a report and a RESULT line per step\n"
"  --stop-p99-ms MS    --rates: stop after the first step whose p99 passes\n"
"                      MS (0: never), that fell behind, lost messages or\n"
"                      had sends unanswered or refused (100)\n"
"  --duration S        measured seconds (10; a step's with --rates; idle:\n"
"                      hold after sampling, server CPU over it, 0)\n"
"  --warmup S          seconds of sending before measuring (2; idle: 1)\n"
"  --drain S           at most S seconds to wait for stragglers (3)\n"
"  --size B            message body bytes (64)\n"
"  --pids P,P,...      server processes for CPU and memory\n"
"  --master-pid P      a server master: it and its children (repeatable)\n"
"  --room-prefix S     room id prefix (bench)\n"
"  --user-prefix S     user id prefix: sub=<prefix><n> (u)\n"
"  --user-base N       first user number (0)\n"
"  --src-addrs N       spread over source addresses 127.0.0.2.. (16)\n"
"  --conc N            at most N connections in handshake at once (256;\n"
"                      connect 1000)\n"
"  --setup-timeout S   give up connecting after S seconds (60)\n"
"  --base-conns K      idle: also the memory per connection beyond the\n"
"                      first K (rounded down to rooms of 2), sampled once\n"
"                      those are held and settled (--warmup): what is\n"
"                      paid once (caches warmed by the first joins) out\n"
"                      of the figure; the other connections wait (0)\n"
"  --churn N           soak: connections a second that close themselves\n"
"                      (1000) and reconnect (10)\n"
"  --interval S        soak: seconds between INTERVAL lines (10)\n"
"  --reconnect-ms MS   soak: first reconnect after a random delay below MS,\n"
"                      the cap doubling on each failed try (2000)\n"
"  --reconnect-max-ms MS  soak: the largest cap (30000)\n"
"  --reload-pid P      reload: the nginx master to send SIGHUP\n"
"  --reload-after S    reload: seconds of sending before the reload (2)\n"
"  --min-msgs N        fanout, rooms, chat: measure a step for at least\n"
"                      N messages, longer than --duration at low rates\n"
"                      (0: --duration only)\n"
"  --rx-stamp          also measure latency to the message's arrival at\n"
"                      the socket (the kernel's receive time stamp,\n"
"                      SO_TIMESTAMPNS), leaving out the time it waited\n"
"                      for chat-bench to read it: rx_p50_us ...\n"
"  -v, --verbose       progress every second on stderr\n");
}


static double
cb_num(const char *name, const char *s, double min, double max)
{
    char    *end;
    double   v;

    errno = 0;
    v = strtod(s, &end);

    if (errno || end == s || *end != '\0' || v < min || v > max) {
        cb_die("bad value for %s: \"%s\" (%g..%g)", name, s, min, max);
    }

    return v;
}


/* --rates R1,R2,...: B.rates, and B.rates_str as printed in RESULT */

static void
cb_parse_rates(const char *arg)
{
    char    *copy, *tok, *save;
    size_t   l;

    copy = strdup(arg);
    if (copy == NULL) {
        cb_die("out of memory");
    }

    B.nrates = 0;
    l = 0;

    for (tok = strtok_r(copy, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save))
    {
        if (B.nrates == CB_MAX_RATES) {
            cb_die("--rates: at most %d rates", CB_MAX_RATES);
        }

        B.rates[B.nrates] = cb_num("--rates", tok, 0, 1e7);
        l += snprintf(B.rates_str + l, sizeof(B.rates_str) - l, "%s%g",
                      l ? "," : "", B.rates[B.nrates]);
        if (l >= sizeof(B.rates_str)) {
            cb_die("--rates: too long");
        }
        B.nrates++;
    }

    free(copy);

    if (B.nrates == 0) {
        cb_die("--rates: no rate");
    }

    B.stepped = 1;
}


void
cb_parse_args(int argc, char **argv)
{
    int                   ch, idx;
    cb_set_t              set;
    const char           *name;
    static struct option  opts[] = {
        { "host", required_argument, NULL, 'H' },
        { "port", required_argument, NULL, 'p' },
        { "path", required_argument, NULL, 'P' },
        { "secret", required_argument, NULL, 'k' },
        { "proto", required_argument, NULL, 'o' },
        { "ports", required_argument, NULL, 'n' },
        { "nchan-echo", no_argument, NULL, 'E' },
        { "scenario", required_argument, NULL, 's' },
        { "subs", required_argument, NULL, 'S' },
        { "senders", required_argument, NULL, 'e' },
        { "rooms", required_argument, NULL, 'r' },
        { "conns", required_argument, NULL, 'c' },
        { "pairs", required_argument, NULL, 'A' },
        { "groups", required_argument, NULL, 'G' },
        { "group-size", required_argument, NULL, 'Z' },
        { "rate", required_argument, NULL, 'R' },
        { "rates", required_argument, NULL, 'L' },
        { "stop-p99-ms", required_argument, NULL, 'Q' },
        { "duration", required_argument, NULL, 'd' },
        { "warmup", required_argument, NULL, 'w' },
        { "drain", required_argument, NULL, 'D' },
        { "size", required_argument, NULL, 'z' },
        { "pids", required_argument, NULL, 'i' },
        { "master-pid", required_argument, NULL, 'm' },
        { "room-prefix", required_argument, NULL, 'x' },
        { "user-prefix", required_argument, NULL, 'u' },
        { "user-base", required_argument, NULL, 'b' },
        { "src-addrs", required_argument, NULL, 'a' },
        { "conc", required_argument, NULL, 'C' },
        { "setup-timeout", required_argument, NULL, 'T' },
        { "base-conns", required_argument, NULL, 'B' },
        { "churn", required_argument, NULL, 'K' },
        { "interval", required_argument, NULL, 'I' },
        { "reconnect-ms", required_argument, NULL, 'y' },
        { "reconnect-max-ms", required_argument, NULL, 'Y' },
        { "deflate", no_argument, NULL, 'F' },
        { "reload-pid", required_argument, NULL, 'g' },
        { "reload-after", required_argument, NULL, 'f' },
        { "rx-stamp", no_argument, NULL, 'X' },
        { "min-msgs", required_argument, NULL, 'M' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    cb_defaults();
    memset(&set, 0, sizeof(cb_set_t));

    for ( ;; ) {
        ch = getopt_long(argc, argv, "vh", opts, &idx);
        if (ch == -1) {
            break;
        }

        name = (ch == 'v' || ch == 'h' || ch == 'E' || ch == 'F'
                || ch == 'X' || ch == '?')
               ? "" : opts[idx].name;

        cb_option(ch, name, &set);
    }

    if (optind != argc) {
        cb_usage();
        exit(2);
    }

    if (B.scenario == 0) {
        cb_die("--scenario is required");
    }

    B.peer->options(set.port, set.path, set.senders);

    if (B.reload) {
        cb_reload_defaults(set.pairs, set.groups, set.prefix, set.retry);

    } else if (B.soak) {
        cb_soak_defaults(set.pairs, set.groups, set.prefix);
    }

    cb_check();
    cb_scenario_defaults(&set);
}


static const cb_peer_t *
cb_peer_by_name(const char *name)
{
    size_t  i;

    for (i = 0; i < sizeof(cb_peers) / sizeof(cb_peers[0]); i++) {
        if (strcmp(name, cb_peers[i]->name) == 0
            || (cb_peers[i]->alias && strcmp(name, cb_peers[i]->alias) == 0))
        {
            return cb_peers[i];
        }
    }

    cb_die("unknown proto \"%s\"", name);
}


static int
cb_scenario_by_name(const char *name)
{
    int  i;

    /* the soak with a reload in it (reload.c) */
    if (strcmp(name, "reload") == 0) {
        B.soak = 1;
        B.reload = 1;
        return CB_SC_CHAT;
    }

    /* the chat scenario, held long (soak.c) */
    if (strcmp(name, "soak") == 0) {
        B.soak = 1;
        return CB_SC_CHAT;
    }

    for (i = CB_SC_FANOUT; i <= CB_SC_CONNECT; i++) {
        if (strcmp(name, cb_scenario_names[i]) == 0) {
            return i;
        }
    }

    cb_die("unknown scenario \"%s\"", name);
}


static void
cb_defaults(void)
{
    B.peer = &cb_peer_ngx_chat;
    B.host = "127.0.0.1";
    B.port = 8080;
    B.path = "/chat/ws";
    B.room_prefix = "bench";
    B.user_prefix = "u";
    B.subs = 1000;
    B.senders = 1;
    B.rooms = 1000;
    B.conns = 0;
    B.pairs = 1000;
    B.chat_groups = 20;
    B.group_size = 50;
    B.stop_p99_ms = 100;
    B.rate = -1;
    B.duration = -1;
    B.warmup = -1;
    B.drain = 3;
    B.setup_timeout = 60;
    B.size = 64;
    B.src_addrs = 16;
    B.conc = 256;
    B.ports = 2;
    B.churn = 10;
    B.interval = 10;
    B.retry_first = 2;
    B.retry_max = 30;
    B.reload_after = 2;
}


static void
cb_option(int ch, const char *name, cb_set_t *set)
{
    switch (ch) {
    case 'H': B.host = optarg; break;
    case 'p': B.port = (int) cb_num(name, optarg, 1, 65535);
              set->port = 1;
              break;
    case 'P': B.path = optarg; set->path = 1; break;
    case 'k': B.secret_file = optarg; break;
    case 'o': B.peer = cb_peer_by_name(optarg); break;
    case 'n': B.ports = (uint32_t) cb_num(name, optarg, 1, 64); break;
    case 'E': B.nchan_echo = 1; break;
    case 's': B.soak = 0;
              B.reload = 0;
              B.scenario = cb_scenario_by_name(optarg);
              break;
    case 'S': B.subs = (uint32_t) cb_num(name, optarg, 0, 1e6); break;
    case 'e': B.senders = (uint32_t) cb_num(name, optarg, 1, 1e5);
              set->senders = 1;
              break;
    case 'r': B.rooms = (uint32_t) cb_num(name, optarg, 1, 5e5); break;
    case 'c': B.conns = (uint32_t) cb_num(name, optarg, 1, 1e6); break;
    case 'A': B.pairs = (uint32_t) cb_num(name, optarg, 1, 5e5);
              set->pairs = 1;
              break;
    case 'G': B.chat_groups = (uint32_t) cb_num(name, optarg, 0, 5e5);
              set->groups = 1;
              break;
    case 'Z': B.group_size = (uint32_t) cb_num(name, optarg, 2, 1e6);
              break;
    case 'R': B.rate = cb_num(name, optarg, 0, 1e7); break;
    case 'L': cb_parse_rates(optarg); break;
    case 'Q': B.stop_p99_ms = cb_num(name, optarg, 0, 1e6); break;
    case 'd': B.duration = cb_num(name, optarg, 0, 3600); break;
    case 'w': B.warmup = cb_num(name, optarg, 0, 600); break;
    case 'D': B.drain = cb_num(name, optarg, 0, 10); break;
    case 'z': B.size = (uint32_t) cb_num(name, optarg, 1, 1 << 20); break;
    case 'i': B.pid_list = optarg; break;
    case 'm':
        if (B.nmasters == CB_MAX_GROUPS - 1) {
            cb_die("too many --master-pid");
        }
        B.master_pids[B.nmasters++] = (int) cb_num(name, optarg, 1,
                                                   1 << 30);
        break;
    case 'x': B.room_prefix = optarg; set->prefix = 1; break;
    case 'u': B.user_prefix = optarg; set->prefix = 1; break;
    case 'b': B.user_base = (uint32_t) cb_num(name, optarg, 0, 1e9);
              break;
    case 'a': B.src_addrs = (uint32_t) cb_num(name, optarg, 0, 250);
              break;
    case 'C': B.conc = (uint32_t) cb_num(name, optarg, 1, 1e6);
              set->conc = 1;
              break;
    case 'T': B.setup_timeout = cb_num(name, optarg, 1, 3600); break;
    case 'B': B.base_conns = (uint32_t) cb_num(name, optarg, 0, 1e7);
              break;
    case 'K': B.churn = cb_num(name, optarg, 0, 1e5); break;
    case 'I': B.interval = cb_num(name, optarg, 1, 3600); break;
    case 'y': B.retry_first = cb_num(name, optarg, 1, 600000) / 1e3;
              set->retry = 1;
              break;
    case 'Y': B.retry_max = cb_num(name, optarg, 1, 3600000) / 1e3; break;
    case 'F': B.deflate = 1; break;
    case 'g': B.reload_pid = (int) cb_num(name, optarg, 1, 1 << 30); break;
    case 'f': B.reload_after = cb_num(name, optarg, 0, 600); break;
    case 'X': B.rx_stamp = 1; break;
    case 'M': B.min_msgs = cb_num(name, optarg, 0, 1e9); break;
    case 'v': B.verbose = 1; break;
    case 'h': cb_usage(); exit(0);
    default: cb_usage(); exit(2);
    }
}


/* what holds whatever the peer */

static void
cb_check(void)
{
    if (B.nchan_echo && !B.peer->echo) {
        cb_die("--nchan-echo is for --proto nchan");
    }

    if (strlen(B.room_prefix) > 40 || strlen(B.user_prefix) > 40) {
        cb_die("prefix too long");
    }

    if (B.scenario == CB_SC_CHAT
        && (uint64_t) B.chat_groups * B.group_size > 2 * (uint64_t) B.pairs)
    {
        cb_die("chat: --groups x --group-size (%llu) is more than the %u "
               "connections of --pairs %u",
               (unsigned long long) B.chat_groups * B.group_size,
               2 * B.pairs, B.pairs);
    }
}


static void
cb_scenario_defaults(cb_set_t *set)
{
    if (B.stepped) {
        if (B.rate >= 0) {
            cb_die("--rate and --rates: one or the other");
        }
        if (B.scenario == CB_SC_IDLE || B.scenario == CB_SC_CONNECT) {
            cb_die("--rates is for the fanout, rooms and chat scenarios");
        }
        B.rate = B.rates[0];

    } else {
        if (B.rate < 0) {
            B.rate = (B.scenario == CB_SC_ROOMS) ? 5000
                     : (B.scenario == CB_SC_CHAT) ? 2000 : 200;
        }
        B.rates[0] = B.rate;
        B.nrates = 1;
        snprintf(B.rates_str, sizeof(B.rates_str), "%g", B.rate);
    }

    if (B.conns == 0) {
        B.conns = (B.scenario == CB_SC_CONNECT) ? 5000 : 1000;
    }

    if (!set->conc && B.scenario == CB_SC_CONNECT) {
        B.conc = 1000;
    }

    if (B.warmup < 0) {
        B.warmup = (B.scenario == CB_SC_IDLE) ? 1 : 2;
    }

    if (B.base_conns && B.scenario != CB_SC_IDLE) {
        cb_die("--base-conns is for the idle scenario");
    }

    B.base_conns &= ~1U;

    if (B.base_conns >= B.conns) {
        cb_die("--base-conns must be fewer than --conns");
    }

    if (B.duration < 0) {
        B.duration = (B.scenario == CB_SC_IDLE
                      || B.scenario == CB_SC_CONNECT) ? 0 : 10;
    }
}
