#!/usr/bin/env python3
"""Writes the seed corpora of fuzz/corpus/<target>/ from protocol examples.

Run from the repository root: python3 fuzz/seeds.py.  The JWT seeds are
signed with the fixed keys of fuzz/fuzz_keys.h (HS256 here; RS256 and
ES256 by the harness itself, in its signed mode).
"""

import base64
import hashlib
import hmac
import json
import os
import struct
import zlib

ROOT = "fuzz/corpus"

REQUESTS = [
    {"type": "auth", "id": 1, "token": "eyJhbGciOiJIUzI1NiJ9.e30.sig"},
    {"type": "refresh", "id": 2, "token": "a.b.c"},
    {"type": "ping", "id": "p1"},
    {"type": "join", "id": 3, "room": "lobby"},
    {"type": "join", "id": 4, "room": "lobby", "since": 10},
    {"type": "join", "id": 5, "room": "dm:alice:bob", "since_rev": 7},
    {"type": "leave", "id": 6, "room": "lobby"},
    {"type": "send", "id": 7, "room": "lobby", "body": "hello"},
    {"type": "send", "id": 8, "room": "lobby", "body": "h\u00e9llo \u2603",
     "client_msg_id": "c-1", "reply_to": 3},
    {"type": "send", "id": 9, "room": "lobby", "body": "x",
     "meta": {"k": [1, 2, {"a": None}], "t": True}},
    {"type": "history", "id": 10, "room": "lobby", "before": 100,
     "limit": 50},
    {"type": "history", "id": 11, "room": "lobby", "after": 1},
    {"type": "read", "id": 12, "room": "lobby", "seq": 4},
    {"type": "read", "id": 13, "room": "lobby", "seq": 4,
     "state": "delivered"},
    {"type": "typing", "id": 14, "room": "lobby"},
    {"type": "typing", "id": 15, "room": "lobby", "stop": True},
    {"type": "edit", "id": 16, "room": "lobby", "seq": 2, "body": "fixed"},
    {"type": "delete", "id": 17, "room": "lobby", "seq": 2},
    {"type": "presence", "id": 18, "room": "lobby"},
    {"type": "send", "id": "a\"b", "room": "r", "body": "\u0000\n\t"},
    {"type": "send", "id": -1, "room": "", "body": 5},
    {"type": "unknown", "id": 19},
    {"id": 20, "room": "lobby"},
]

RAW_REQUESTS = [
    b'{"type":"send","id":1,"room":"lobby","body":"a","body":"b"}',
    b'{"type":"ping","id":1e3}',
    b'{"type":"ping","id":12345678901234567890}',
    b'[1,2,3]', b'{"type":"join","room":"l\\u00e9"}', b'{', b'',
    b'{"type":"send","id":1,"room":"lobby","body":"\\ud83d\\ude00"}',
    b'{"type":"send","id":1,"room":"lobby","meta":"not an object"}',
    b'{"type" : "ping" , "id" : 1 }',
]


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def frame(opcode, payload, fin=True, mask=None):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        h = bytes([b0, mbit | n])
    elif n < 65536:
        h = bytes([b0, mbit | 126]) + struct.pack(">H", n)
    else:
        h = bytes([b0, mbit | 127]) + struct.pack(">Q", n)
    if mask:
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        h += mask
    return h + payload


def frames():
    m = b"\x37\xfa\x21\x3d"
    msg = json.dumps(REQUESTS[7]).encode()
    cases = {
        "text": [(1, msg)],
        "ping-pong": [(9, b"hi"), (10, b""), (1, b"{}")],
        "fragments": [(1, b"{\"ty", False), (0, b"pe\":", False),
                      (9, b"p"), (0, b"\"ping\"}")],
        "close": [(8, b"\x03\xe8bye")],
        "close-empty": [(8, b"")],
        "close-1-byte": [(8, b"\x03")],
        "close-bad-code": [(8, b"\x03\xed")],
        "close-bad-utf8": [(8, b"\x03\xe8\xff")],
        "utf8-split": [(1, "\u00e9\u2603\U0001f600".encode())],
        "utf8-bad": [(1, b"a\xed\xa0\x80")],
        "binary": [(2, b"\x00\x01")],
        "bad-opcode": [(3, b"")],
        "cont-first": [(0, b"x")],
        "ping-long": [(9, b"p" * 126)],
        "len-126": [(1, b"a" * 200)],
    }
    for name, fr in cases.items():
        for client in (0, 1):
            data = b""
            for f in fr:
                fin = f[2] if len(f) > 2 else True
                data += frame(f[0], f[1], fin, None if client else m)
            # byte 0: mode, 1 and 2: limits (frame 16+16*b1)
            hdr = bytes([client, 0x40, 0x10])
            put("frame", "%s-%s" % (name, "client" if client else "server"),
                hdr + data)
    put("frame", "len-127-client", bytes([1, 0xff, 0xff])
        + frame(1, b"b" * 65536))
    put("frame", "rsv-bits", bytes([0, 0x40, 0x10, 0xc1, 0x80]) + m)
    put("frame", "unmasked-server", bytes([0, 0x40, 0x10]) + frame(1, b"x"))
    put("frame", "len-64bit-huge", bytes([0, 0x40, 0x10, 0x81, 0xff])
        + b"\x80" + b"\x00" * 7 + m)
    put("frame", "len-126-small", bytes([1, 0x40, 0x10, 0x81, 0x7e, 0, 5])
        + b"hello")


def utf8():
    valid = ["", "hello", "\u00e9t\u00e9", "\u20ac", "\U0001f600", "\ud7ff",
             "\ue000", "\uffff", "\U0010ffff"]
    for i, s in enumerate(valid):
        put("utf8", "valid-%d" % i, s.encode("utf-8", "surrogatepass"))
    bad = [b"\x80", b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xe0\x9f\xbf",
           b"\xf0\x80\x80\xaf", b"\xf0\x8f\xbf\xbf", b"\xed\xa0\x80",
           b"\xed\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",
           b"\xf8\x88\x80\x80\x80", b"\xfe", b"\xff", b"\xc3a",
           b"\xe2\x82a", b"\xc3", b"a\xe2\x82", b"\xf0\x9f\x98"]
    for i, s in enumerate(bad):
        put("utf8", "invalid-%d" % i, s)


def decode():
    for i, r in enumerate(REQUESTS):
        body = json.dumps(r).encode()
        put("decode", "req-%02d" % i, b"\x00\x00" + body)
        put("decode", "small-%02d" % i, b"\x00\x0f" + body)
    for i, raw in enumerate(RAW_REQUESTS):
        put("decode", "raw-%02d" % i, b"\x00\x00" + raw)
    # REST bodies, decoded as one type: send (6), edit (10), read (8)
    put("decode", "rest-send", b"\x06\x00" + b'{"body":"hi","meta":{"a":1}}')
    put("decode", "rest-edit", b"\x0a\x00" + b'{"body":"new"}')
    put("decode", "rest-read", b"\x08\x00" + b'{"seq":5}')


def json_seeds():
    strs = [b"lobby", b"alice", b"Alice A.", b"hello \"world\"\n",
            b"c-1", b"\x00\x1f\\/\x7f"]
    for i in range(12):
        data = b""
        for k, s in enumerate(strs):
            s = strs[(k + i) % len(strs)]
            data += bytes([len(s)]) + s
        data += bytes([i, 5, 0xff] + [0x7f] * 8 + [1, 2, i % 4])
        data += bytes([0, 1, 2, 3, 4, 5, 6, 7, 8, 9] * (i % 3 + 1))
        put("json", "seed-%02d" % i, data)
    put("json", "utf8", bytes([6]) + "\u00e9\u2603".encode()
        + bytes([4]) + "\U0001f600".encode())
    put("json", "int-limits", bytes([0] * 6) + b"\xff\x80" + b"\x00" * 7
        + b"\xff\x7f" + b"\xff" * 7)


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


def jwt():
    secret = b"fuzz-secret-0123456789abcdef-0123456789"
    now = 1767139200
    claims = [
        {"sub": "alice", "exp": now + 3600},
        {"sub": "bob", "exp": now + 3600, "iat": now, "nbf": now - 10,
         "name": "Bob", "jti": "j1", "roles": ["admin"]},
        {"sub": "carol", "exp": now + 60, "sid": "s1",
         "roles": "moderator"},
        {"sub": "dave", "exp": now - 3600},
        {"sub": "", "exp": now + 3600},
        {"sub": "a" * 65, "exp": now + 3600},
        {"exp": now + 3600},
        {"sub": "eve"},
        {"sub": "frank", "exp": "soon"},
        {"sub": "gus", "exp": now + 3600, "nbf": now + 600},
    ]
    headers = [{"alg": "HS256", "typ": "JWT"}, {"alg": "none"},
               {"alg": "RS256"}, {"alg": "ES256"}, {"alg": "HS512"},
               {"alg": "HS256", "crit": ["x"]}, {"typ": "JWT"}]
    n = 0
    for h in headers:
        for c in claims[:4] if h != headers[0] else claims:
            hp = b64(json.dumps(h).encode()) + b"." + b64(
                json.dumps(c).encode())
            sig = b64(hmac.new(secret, hp, hashlib.sha256).digest())
            put("jwt", "raw-%02d" % n, b"\x00\x00" + hp + b"." + sig)
            n += 1
            # the same header and claims signed by the harness, each way
            for how in range(10):
                if (n % 6 == 0 and how >= 3) or (how < 3 and n % 2 == 0):
                    put("jwt", "signed-%02d-%d" % (n, how),
                        bytes([1, how]) + json.dumps(h).encode() + b"\x00"
                        + json.dumps(c).encode())
    put("jwt", "malformed-1", b"\x00\x00a.b")
    put("jwt", "malformed-2", b"\x00\x00..")
    put("jwt", "malformed-3", b"\x00\x00eyJ.eyJ.===")


def route():
    paths = [
        "health", "rooms", "rooms/lobby", "rooms/lobby/messages?before=10"
        "&limit=50", "rooms/lobby/messages?after=0&limit=200",
        "rooms/lobby/read", "rooms/lobby/messages/42",
        "rooms/lobby/messages/0", "rooms/lobby/messages/9223372036854775808",
        "search?q=hello%20world&room=lobby&limit=20&before=5",
        "search?q=%zz", "search?Q=a&q=b", "dm/bob", "rooms/a%3Ab/members",
        "rooms/lobby/members/bob", "rooms/lobby/bans/bob",
        "rooms/lobby/mutes/bob", "presence?room=lobby&user=alice",
        "users/bob/revoke", "users/bob/ban", "auth/register", "auth/login",
        "auth/refresh", "auth/logout", "rooms//messages", "rooms/lobby/",
        "?limit=", "?limit=1&&limit=2", "rooms/%", "12345",
    ]
    for i, p in enumerate(paths):
        put("route", "path-%02d" % i, p)


def scan():
    for i, r in enumerate(REQUESTS[:15]):
        put("scan", "req-%02d" % i, json.dumps(r))
    for i, raw in enumerate(RAW_REQUESTS):
        put("scan", "raw-%02d" % i, raw)
    put("scan", "nested", b'{"meta":{"body":"x","x":[{"x":1}]},"body":"y"}')
    put("scan", "escapes", b'{"b\\u006fdy":"a","room":"\\"\\\\"}')
    put("scan", "spaces", b' \t{ "id" :\n12 , "x" : [ ] } ')


def flat():
    for i, r in enumerate(REQUESTS):
        put("flat", "req-%02d" % i, json.dumps(r, separators=(",", ":")))
    for i, raw in enumerate(RAW_REQUESTS):
        put("flat", "raw-%02d" % i, raw)
    cases = {
        "claims": b'{"sub":"u1","exp":1764900000,"iat":1764896400}',
        "plain-values": b' { "a" : -0 , "b":true,"c":false,"d":null,'
                        b'"e":"" } \n',
        "empty": b"{}", "array": b"[1]", "duplicate": b'{"a":1,"a":2}',
        "escape": b'{"a":"\\u0041"}', "utf8": '{"a":"\u00e9"}'.encode(),
        "control": b'{"a":"b\x01"}', "del": b'{"a":"x\x7f"}',
        "leading-zero": b'{"a":01}', "minus": b'{"a":-}',
        "fraction": b'{"a":1.5}', "exponent": b'{"a":1e3}',
        "digits-18": b'{"a":123456789012345678}',
        "digits-19": b'{"a":1234567890123456789}',
        "nested": b'{"a":{"b":1}}', "trailing": b'{"a":1}x',
        "trailing-comma": b'{"a":1,}', "bad-literal": b'{"a":tru}',
        "no-colon": b'{"a" 1}',
        "members-16": ("{%s}" % ",".join('"%d":%d' % (i, i)
                                         for i in range(1, 17))).encode(),
        "members-17": ("{%s}" % ",".join('"%d":%d' % (i, i)
                                         for i in range(1, 18))).encode(),
    }
    for name, text in cases.items():
        put("flat", name, text)


def channel():
    msg = json.dumps({"type": "message", "room": "lobby", "seq": 7,
                      "rev": 12, "body": "hi"})
    seeds = ["12 7\n" + msg, "0\n" + json.dumps({"type": "typing"}),
             "0 @alice\n" + json.dumps({"type": "typing"}), "5\n",
             "9223372036854775799 1\n{}", "9223372036854775800\n{}",
             "007 008\n{}", "1 @bob\n{}", "0 @\n{}", "0 @bob", "",
             "\n", "12 7", "1 2 3\n{}", "-1\n{}", "0 \n{}"]
    for i, p in enumerate(seeds):
        put("channel", "payload-%02d" % i, p)


def control():
    seeds = ["R alice 1767139200", "J bob 0f1e2d3c-jti", "S bob 4f2a9c",
             "B bob 0", "B bob 1767139200123", "U bob",
             "B bob 9223372036854775807", "B bob 9223372036854775808",
             "R alice", "J bob ", "U bob x", "X alice 1", "R  1",
             "R a\"b 1", "R alice -1", "R alice 01"]
    for i, p in enumerate(seeds):
        put("control", "payload-%02d" % i, p)


def answer():
    seeds = {
        "ok-length": 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n'
                     'Content-Length: 15\r\n\r\n{"status":"ok"}',
        "chunked": 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
                   '5\r\n{"a":\r\n3\r\n12}\r\n0\r\n\r\n',
        "retry": 'HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\n'
                 'Content-Length: 68\r\n\r\n{"error":{"code":"rate_limited",'
                 '"message":"slow down","retry_after":3}}',
        "empty": 'HTTP/1.1 204 No Content\r\n\r\n',
        "chunk-too-long": 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked'
                          '\r\n\r\nffffffff\r\nab',
        "negative-length": 'HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nabc',
        "short": 'HTTP/1.0 200\r\n\r\n',
        "not-http": 'garbage\r\n\r\n',
    }
    for name, p in seeds.items():
        put("answer", name, p)


def deflated(data, final=False):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = c.compress(data)
    if final:
        return out + c.flush(zlib.Z_FINISH)
    out += c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]


def inflate_seeds():
    msgs = [json.dumps(r).encode() for r in REQUESTS[:8]]
    for i, m in enumerate(msgs):
        # even: a client's message with a limit; odd: a round trip
        put("inflate", "client-%02d" % i,
            b"\x00" + struct.pack(">H", 4096) + deflated(m))
        put("inflate", "round-%02d" % i, b"\x01" + m)
    put("inflate", "final", b"\x00\x10\x00" + deflated(msgs[0], True))
    put("inflate", "bomb", b"\x00\x01\x00" + deflated(b" " * 100000))
    put("inflate", "stored", b"\x00\x00\x10" + b"\x00\x05\x00\xfa\xffhello")
    put("inflate", "junk", b"\x00\x00\x10" + b"\xff" * 16)


def ext_seeds():
    offers = [
        "permessage-deflate",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; server_max_window_bits=10; "
        "client_no_context_takeover",
        "permessage-deflate; server_max_window_bits=\"12\"",
        "x-webkit-deflate-frame, permessage-deflate; server_no_context_takeover",
        "permessage-deflate; foo, permessage-deflate",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; x=\"a\\\"b\", permessage-deflate",
        "permessage-deflate;",
    ]
    for i, o in enumerate(offers):
        put("ext", "offer-%02d" % i, o)


if __name__ == "__main__":
    frames()
    utf8()
    decode()
    json_seeds()
    jwt()
    route()
    scan()
    flat()
    channel()
    control()
    answer()
    inflate_seeds()
    ext_seeds()
