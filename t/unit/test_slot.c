/*
 * Unit tests of Redis Cluster slots (src/core/ngx_chat_slot.c).
 */

#include "unit.h"
#include "ngx_chat_slot.h"


static unsigned
slot(const char *key)
{
    return ngx_chat_slot(key, strlen(key));
}


static void
test_crc16(void)
{
    /* the cluster specification's check value */
    UNIT_CHECK(ngx_chat_crc16("123456789", 9) == 0x31c3, "%04x",
               ngx_chat_crc16("123456789", 9));
    UNIT_CHECK(ngx_chat_crc16("", 0) == 0, "empty");
}


static void
test_slots(void)
{
    /* values CLUSTER KEYSLOT answers on Redis 7 */
    UNIT_CHECK(slot("a") == 15495, "a: %u", slot("a"));
    UNIT_CHECK(slot("b") == 3300, "b: %u", slot("b"));
    UNIT_CHECK(slot("foo") == 12182, "foo: %u", slot("foo"));
    UNIT_CHECK(slot("k{c}") == 7365, "k{c}: %u", slot("k{c}"));
    UNIT_CHECK(slot("zz") == 14415, "zz: %u", slot("zz"));

    /* a hash tag: only what is between the first { and the next } */
    UNIT_CHECK(slot("{user1000}.following") == slot("user1000"), "tag");
    UNIT_CHECK(slot("x{a}y") == slot("a"), "tag inside");
    UNIT_CHECK(slot("x{a}{b}") == slot("a"), "first tag");
    UNIT_CHECK(slot("{a}}") == slot("a"), "first close");
    UNIT_CHECK(slot("x{{a}") == slot("{a"), "first open");

    /* no tag: the whole key */
    UNIT_CHECK(slot("foo{}{bar}") == ngx_chat_crc16("foo{}{bar}", 10) % 16384,
               "empty tag");
    UNIT_CHECK(slot("foo{bar") == ngx_chat_crc16("foo{bar", 7) % 16384,
               "open only");
    UNIT_CHECK(slot("foo}bar{") == ngx_chat_crc16("foo}bar{", 8) % 16384,
               "close first");

    /* a length, not a NUL, ends the key */
    UNIT_CHECK(ngx_chat_slot("a{b}", 1) == slot("a"), "length");
    UNIT_CHECK(ngx_chat_slot("x{ab}", 4) == ngx_chat_crc16("x{ab", 4) % 16384,
               "tag cut by the length");
}


static void
test_tags(void)
{
    char      buf[NGX_CHAT_SLOT_TAG_MAX], key[32];
    size_t    n;
    unsigned  s, bad;

    bad = 0;

    for (s = 0; s < NGX_CHAT_SLOTS; s++) {
        n = ngx_chat_slot_tag(s, buf);

        if (n == 0 || n >= NGX_CHAT_SLOT_TAG_MAX || buf[n] != '\0'
            || slot(buf) != s)
        {
            bad++;
            continue;
        }

        snprintf(key, sizeof(key), "relay:msg_id:{%s}", buf);

        if (slot(key) != s) {
            bad++;
        }
    }

    UNIT_CHECK(bad == 0, "%u slots without a good tag", bad);
}


static void
test_redirect(void)
{
    int          ask;
    size_t       hl;
    unsigned     s, port;
    const char  *host;
    const char  *e;

    e = "MOVED 3999 127.0.0.1:6381";
    UNIT_CHECK(ngx_chat_slot_redirect(e, strlen(e), &ask, &s, &host, &hl,
                                      &port) == 0
               && !ask && s == 3999 && hl == 9
               && memcmp(host, "127.0.0.1", 9) == 0 && port == 6381, "moved");

    e = "ASK 0 ::1:7000";
    UNIT_CHECK(ngx_chat_slot_redirect(e, strlen(e), &ask, &s, &host, &hl,
                                      &port) == 0
               && ask && s == 0 && hl == 3 && memcmp(host, "::1", 3) == 0
               && port == 7000, "ask, ipv6");

    {
        size_t             i;
        static const char *bad[] = {
            "MOVED", "MOVED ", "MOVED 16384 1.2.3.4:5", "MOVED x 1.2.3.4:5",
            "MOVED 1 1.2.3.4", "MOVED 1 1.2.3.4:", "MOVED 1 :80",
            "MOVED 1 1.2.3.4:0", "MOVED 1 1.2.3.4:65536",
            "MOVED 1 1.2.3.4:12a", "MOVED 1  1.2.3.4:5x", "ERR x",
            "CLUSTERDOWN The cluster is down", "MOVED 99999999999 a:1",
            "MOVED 1 1.2.3.4:123456"
        };

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            UNIT_CHECK(ngx_chat_slot_redirect(bad[i], strlen(bad[i]), &ask,
                                              &s, &host, &hl, &port) == -1,
                       "%s", bad[i]);
        }
    }
}


int
main(void)
{
    test_crc16();
    test_slots();
    test_tags();
    test_redirect();

    return UNIT_DONE();
}
