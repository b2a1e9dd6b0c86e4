# web/chat-client.js in Chromium (t/browser/sdk.mjs), imported into a page
# of the origin: it accepts that origin only; its token provider is
# called again after a 4001 and before the token expires; reconnects back
# off exponentially with jitter and happen at once on the online event;
# events delivered twice reach the page once.
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

my $ng = web_nginx();
my $tag = 'sd' . $$;
my ($alice, $bob) = ("${tag}a", "${tag}b");

run_browser('sdk.mjs', {
    base      => $ng->url,
    api       => $ng->api_url,
    room      => rand_room('web-sdk'),
    names     => [$alice, $bob],
    users     => { $bob => token(sub => $bob) },
    # refused (bad signature), (short-lived, signed by the script), good
    tokens    => [token(sub => $alice, bad_sig => 1), undef,
                  token(sub => $alice)],
    secret    => ChatTest::Token::secret(),
});

$ng->stop;
done_testing;
