# Chromium and permessage-deflate (t/browser/deflate.mjs): its own
# WebSocket offers compression by itself; it is negotiated, Chromium sends
# its requests compressed without context takeover, as the server asked,
# and reads the events the server compressed once per worker.  (The other
# browser tests run over compressed connections too.)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;
use ChatTest::Browser qw(browser_ready web_nginx run_browser);
use ChatTest::Prom qw(prom_scrape prom_num);
use ChatTest::Token qw(secret);

if (my $why = browser_ready()) {
    plan skip_all => $why if $ENV{CHAT_SKIP_BROWSER};
    fail("the browser tests can run: $why");
    done_testing;
    exit;
}

my $ng = web_nginx(server => 'location = /metrics { chat_metrics; }');
my $m0 = prom_scrape($ng->url . '/metrics');

my @names = ("dz$$" . 'a', "dz$$" . 'b');
run_browser('deflate.mjs', {
    base   => $ng->url,
    api    => $ng->api_url,
    names  => \@names,
    users  => { map { $_ => token(sub => $_) } @names },
    secret => secret(),
    room   => rand_room('web-deflate'),
});

my $m1 = prom_scrape($ng->url . '/metrics');
my $in = prom_num($m1, 'ngx_chat_ws_inflated_total')
       - prom_num($m0, 'ngx_chat_ws_inflated_total');
my $out = prom_num($m1, 'ngx_chat_ws_deflated_total')
        - prom_num($m0, 'ngx_chat_ws_deflated_total');
ok $in > 0, "Chromium sent compressed requests ($in inflated)";
ok $out > 0, "the server compressed frames for Chromium ($out)";
is prom_num($m1, 'ngx_chat_ws_closes_total', code => 1007, by => 'server'),
   0, 'no connection closed for bad compressed data';
is prom_num($m1, 'ngx_chat_ws_closes_total', code => 1002, by => 'server'),
   0, 'nor for RSV1 misuse';
$ng->stop;

done_testing;
