# The web app in Chromium (t/browser/resync.mjs): a reload shows each
# message once and keeps unread counts right, as reads are sent when
# messages are seen; a network cut during which more events happen than
# chat_join_replay_max (5 here) loses nothing and repeats nothing; a
# message written offline survives a reload and is stored once; a send
# whose answer is lost is sent again and stored once; scrolling up pages
# back through history; a room created over REST appears in the list.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;
use ChatTest::Browser qw(browser_ready web_nginx run_browser);

if (my $why = browser_ready()) {
    plan skip_all => $why if $ENV{CHAT_SKIP_BROWSER};
    fail("the browser tests can run: $why");
    done_testing;
    exit;
}

my $ng = web_nginx(loc => 'chat_join_replay_max 5;');
my $tag = 'rs' . $$;
my ($alice, $bob) = ("${tag}a", "${tag}b");

run_browser('resync.mjs', {
    base       => $ng->url,
    api        => $ng->api_url,
    rooms      => [map { rand_room("web-$_") } qw(r s t u)],
    replay_max => 5,
    names      => [$alice, $bob],
    users      => { $alice => token(sub => $alice), $bob => token(sub => $bob) },
});

$ng->stop;
done_testing;
