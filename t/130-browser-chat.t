# The web app in Chromium (t/browser/chat.mjs): two users in two browser
# contexts create and open a room, chat both ways, see each other typing
# and present, edit and delete; a DM that the other user's room list picks
# up, with delivered and read ticks; search; the owner's moderation menu,
# a mute and a kick; a crafted URL (#ws=..., ?ws=...) that must not take
# the token to another server; a 390x844 phone viewport without
# horizontal overflow, its message list taking most of the height.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;
use ChatTest::Browser qw(browser_test);

browser_test('chat.mjs', {}, { room => rand_room('web') });
done_testing;
