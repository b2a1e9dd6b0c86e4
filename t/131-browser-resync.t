# The web app in Chromium (t/browser/resync.mjs): a reload shows each
# message once and keeps unread counts right, as reads are sent when
# messages are seen; a network cut during which more events happen than
# chat_join_replay_max (5 here) loses nothing and repeats nothing; a
# message written offline survives a reload and is stored once; a send
# whose answer is lost is sent again and stored once; scrolling up pages
# back through history; a room created over REST appears in the list.
# With accounts: signed up through the page, its access tokens refreshed
# with rotating refresh tokens, Log out revoking the session.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;
use ChatTest::Browser qw(browser_test);

# with accounts, access tokens of 65 s: the page refreshes them after 5 s
browser_test('resync.mjs',
             { loc => 'chat_join_replay_max 5;',
               accounts_http => 'chat_accounts_access_ttl 65s;' },
             { rooms => [map { rand_room("web-$_") } qw(r s t u)],
               replay_max => 5 });
done_testing;
