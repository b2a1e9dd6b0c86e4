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
use ChatTest::Browser qw(browser_test);

browser_test('sdk.mjs', {}, { room => rand_room('web-sdk') });
done_testing;
