# chat_user_connections_max: a user's connections are counted across
# every worker and host in Redis.  Two nginx instances of two workers
# each with a cap of 3: three connections of one user on both pass, a
# fourth is refused on either (HTTP 429 with Retry-After on an upgrade
# with a header token, close 1013 after an auth frame); REST calls do not
# count; a closed connection frees its place, and so does a host that
# stops.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my @ng = map { start_nginx(workers => 2, listen => 'reuseport',
                           http => 'chat_user_connections_max 3;') } 1 .. 2;
my $u = sprintf 'uc%d%04x', $$, int rand 65536;

for my $n (@ng) {
    wait_until(sub { api($n, 'GET', '/health')->{status} == 200 }, 10, 0.05);
}

sub refused_ok {
    my ($i, $what) = @_;
    my $res = ws_connect($ng[$i]->ws_url, token => token(sub => $u));
    ok !$res->isa('ChatTest::WS') && $res->code == 429,
        "$what: instance $i: upgrade refused with 429";
    is $res->isa('ChatTest::WS') ? '' : $res->headers->header('Retry-After'),
        1, "$what: with Retry-After";
    my $c = ws_connect($ng[$i]->ws_url);
    $c->send_json({ type => 'auth', id => 1, token => token(sub => $u) });
    is $c->close_code(3), 1013, "$what: instance $i: auth frame: 1013";
}

my @c = (login($ng[0], $u), login($ng[1], $u));
my $c3 = ws_connect($ng[0]->ws_url);
my $w = $c3->request({ type => 'auth', token => token(sub => $u) });
is $w && $w->{type}, 'welcome', 'a third connection by an auth frame';
push @c, $c3;
refused_ok($_, 'at the cap') for 0, 1;

is api($ng[1], 'GET', '/rooms', user => $u)->{status}, 200,
    'REST calls do not count';
ok eval { login($ng[1], "$u-v")->close; 1 }, 'another user connects';

# a connection that closes frees its place
$c[0]->close;
$c[0]->closed(3);
my $again;
ok wait_until(sub {
    $again = ws_connect($ng[1]->ws_url, token => token(sub => $u));
    $again->isa('ChatTest::WS');
}, 5, 0.05), 'a closed connection frees its place';
$c[0] = $again;
refused_ok(0, 'at the cap again');

# a host that stops: its connections no longer count
$ng[1]->stop;
ok eval { login($ng[0], $u) for 1 .. 2; 1 },
    'the connections of a stopped host no longer count' or diag $@;
refused_ok(0, 'the cap on the remaining host');

$ng[0]->stop;
done_testing;
