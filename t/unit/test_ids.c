
/*
 * Unit tests of src/core/ngx_chat_ids.c: user and room ids, direct-message
 * rooms.
 */


#include <stdlib.h>

#include "unit.h"
#include "ngx_chat_ids.h"


static void
test_room_ids(void)
{
    char  *s, buf[NGX_CHAT_ROOM_ID_MAX + 1];

    UNIT_CHECK(ngx_chat_user_id_valid("alice", 5), "user alice");
    UNIT_CHECK(ngx_chat_user_id_valid("A-z_0.9@x", 9), "user chars");
    UNIT_CHECK(!ngx_chat_user_id_valid("", 0), "user empty");
    UNIT_CHECK(!ngx_chat_user_id_valid(NULL, 0), "user NULL");
    UNIT_CHECK(!ngx_chat_user_id_valid("a:b", 3), "user colon");
    UNIT_CHECK(!ngx_chat_user_id_valid("a b", 3), "user space");
    UNIT_CHECK(!ngx_chat_user_id_valid("a\0b", 3), "user NUL");
    UNIT_CHECK(!ngx_chat_user_id_valid("\xc3\xa9", 2), "user UTF-8");

    s = unit_repeat('u', 65);
    UNIT_CHECK(ngx_chat_user_id_valid(s, 64), "user 64");
    UNIT_CHECK(!ngx_chat_user_id_valid(s, 65), "user 65");
    UNIT_CHECK(ngx_chat_room_id_valid(s, 64), "room 64");
    UNIT_CHECK(!ngx_chat_room_id_valid(s, 65), "room 65");
    free(s);

    UNIT_CHECK(!ngx_chat_room_id_valid("", 0), "room empty");
    UNIT_CHECK(ngx_chat_room_id_valid("team:general", 12), "room colon");
    UNIT_CHECK(ngx_chat_room_id_valid("a.b-c_d@e", 9), "room chars");
    UNIT_CHECK(!ngx_chat_room_id_valid("a/b", 3), "room slash");
    UNIT_CHECK(!ngx_chat_room_id_valid("a b", 3), "room space");
    UNIT_CHECK(!ngx_chat_room_id_valid("\xc3\xa9t\xc3\xa9", 6), "room UTF-8");
    UNIT_CHECK(ngx_chat_room_id_valid("DM:x", 4), "DM: is a channel");
    UNIT_CHECK(ngx_chat_room_id_valid("dm", 2), "dm is a channel");

    UNIT_CHECK(ngx_chat_room_id_valid("dm:alice:bob", 12), "dm ok");
    UNIT_CHECK(ngx_chat_room_id_valid("dm:a:ab", 7), "dm prefix order");
    UNIT_CHECK(!ngx_chat_room_id_valid("dm:ab:a", 7), "dm prefix unsorted");
    UNIT_CHECK(ngx_chat_room_id_valid("dm:Bob:alice", 12),
               "dm bytewise (B < a)");
    UNIT_CHECK(!ngx_chat_room_id_valid("dm:bob:alice", 12), "dm unsorted");
    UNIT_CHECK(!ngx_chat_room_id_valid("dm:alice:alice", 14), "dm same");
    UNIT_CHECK(!ngx_chat_room_id_valid("dm:a:b:c", 8), "dm three parts");
    UNIT_CHECK(!ngx_chat_room_id_valid("dm:al!ce:bob", 12), "dm bad user");
    UNIT_CHECK(!ngx_chat_room_id_valid("dm:", 3), "dm: alone");
    UNIT_CHECK(!ngx_chat_room_id_valid("dm:alice", 8), "dm one user");
    UNIT_CHECK(!ngx_chat_room_id_valid("dm::bob", 7), "dm empty first");
    UNIT_CHECK(!ngx_chat_room_id_valid("dm:alice:", 9), "dm empty second");

    UNIT_CHECK(ngx_chat_room_is_dm("dm:x", 4), "is_dm");
    UNIT_CHECK(!ngx_chat_room_is_dm("dm", 2), "is_dm short");
    UNIT_CHECK(!ngx_chat_room_is_dm("general", 7), "is_dm channel");

    UNIT_CHECK(ngx_chat_dm_has_member("dm:alice:bob", 12, "alice", 5),
               "member alice");
    UNIT_CHECK(ngx_chat_dm_has_member("dm:alice:bob", 12, "bob", 3),
               "member bob");
    UNIT_CHECK(!ngx_chat_dm_has_member("dm:alice:bob", 12, "bo", 2),
               "member bo");
    UNIT_CHECK(!ngx_chat_dm_has_member("dm:alice:bob", 12, "carol", 5),
               "member carol");
    UNIT_CHECK(!ngx_chat_dm_has_member("dm:bob:alice", 12, "bob", 3),
               "member of an invalid dm");
    UNIT_CHECK(!ngx_chat_dm_has_member("general", 7, "general", 7),
               "member of a channel");

    UNIT_CHECK(ngx_chat_dm_room(buf, "bob", 3, "alice", 5) == 12
               && strcmp(buf, "dm:alice:bob") == 0, "dm_room %s", buf);
    UNIT_CHECK(ngx_chat_dm_room(buf, "alice", 5, "bob", 3) == 12
               && strcmp(buf, "dm:alice:bob") == 0, "dm_room sorted");
    UNIT_CHECK(ngx_chat_dm_room(buf, "alice", 5, "alice", 5) == 0,
               "dm_room same");
    UNIT_CHECK(ngx_chat_dm_room(buf, "al:ce", 5, "bob", 3) == 0,
               "dm_room bad user");
    s = unit_repeat('x', 64);
    UNIT_CHECK(ngx_chat_dm_room(buf, s, 30, "bob", 3) == 37,
               "dm_room 37");
    UNIT_CHECK(ngx_chat_room_id_valid(buf, 37), "dm_room output valid");
    UNIT_CHECK(ngx_chat_dm_room(buf, s, 60, "bob", 3) == 0,
               "dm_room too long");
    free(s);
}


int
main(void)
{
    test_room_ids();

    return UNIT_DONE();
}
