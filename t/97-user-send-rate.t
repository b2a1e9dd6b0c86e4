# chat_user_send_rate (protocol.md section 8): a user's sends are counted
# across every worker and host, in Redis.  Two nginx instances of two
# workers each share this test's own Redis: with the default (10r/5s
# burst=9) ten sends pass, split over both instances, and the next is
# rate_limited on either one, over WebSocket (retry_after) and REST (429
# with Retry-After); another user is not limited.  With Redis stopped,
# each worker counts on its own: sends still pass, up to the limit.  A
# connection flooding sends past the rate is paused by each refusal.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use ChatTest;

my $redis = start_redis();
my @ng = map { start_nginx(workers => 2, listen => 'reuseport',
                           redis => $redis->addr,
                           user_send_rate => 'default') } 1 .. 2;
my $room = rand_room('urate');
my $u = sprintf 'ur%d%04x', $$, int rand 65536;

for my $n (@ng) {
    wait_until(sub { api($n, 'GET', '/health')->{status} == 200 }, 10, 0.05);
}

sub limited_ok {
    my ($r, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    ok $r && $r->{type} eq 'error' && $r->{code} eq 'rate_limited'
       && ($r->{retry_after} // '') =~ /^\d+$/ && $r->{retry_after} >= 1,
       $name or diag explain $r;
}

sub send_req { { type => 'send', room => $room, body => $_[0] } }

# ---- the budget is the user's, on both instances
my @c = map { login($ng[$_], $u) } 0, 1;
$_->request({ type => 'join', room => $room }) for @c;
my $t_first = time;
my @r = (
    $c[0]->pipeline([map { send_req("a$_") } 1 .. 5]),
    $c[1]->pipeline([map { send_req("b$_") } 1 .. 5]),
);
is scalar(grep { $_ && $_->{type} eq 'ok' } @r), 10,
    'ten sends pass, five on each instance' or diag explain \@r;

my $b6 = $c[1]->request(send_req('b6'));
my $a6 = $c[0]->request(send_req('a6'));
my $res = api($ng[0], 'POST', "/rooms/$room/messages", user => $u,
              json => { body => 'rest' });
my $took = time - $t_first;
SKIP: {
    # the budget gives one more send 0.5 s after the first: past that, one
    # of these three may rightly pass
    skip sprintf('the sends took %.2f s, past the next refill', $took), 4
        if $took >= 0.45;
    limited_ok($b6, sprintf 'the 11th on instance 1, %.2f s after the '
               . 'first: rate_limited with retry_after', $took);
    limited_ok($a6, 'and on instance 0');
    is_api_error($res, 429, 'rate_limited', 'REST: 429');
    like $res->{headers}->header('Retry-After') // '', qr/^[1-9]\d*$/,
        'with Retry-After';
}

my $v = login($ng[1], "$u-v");
my $ok = $v->request(send_req('v1'));
is $ok && $ok->{type}, 'ok', 'another user is not limited';

# ---- refilled: one every 0.5 s
ok wait_until(sub {
    my $r = $c[1]->request(send_req('later'));
    $r && $r->{type} eq 'ok';
}, 5, 0.1), 'a send passes again once the rate allows';

# ---- Redis stopped: each worker counts on its own
close_all(@c, $v);
$redis->stop;
for my $n (@ng) {
    wait_until(sub { (api($n, 'GET', '/health')->{json}{redis} // '')
                     eq 'down' }, 10, 0.05);
}
my $w = sprintf 'uw%d%04x', $$, int rand 65536;
my $d = login($ng[0], $w);
$d->request({ type => 'join', room => $room });
@r = $d->pipeline([map { send_req("d$_") } 1 .. 12]);
is scalar(grep { $_ && $_->{type} eq 'ok' } @r[0 .. 9]), 10,
    'without Redis: the first ten pass (counted by the worker)'
    or diag explain \@r;
limited_ok($r[10], 'the 11th is rate_limited');
# the connection is not read again until the rate lets up: the 12th is
# read then, and the rate lets it pass
is $r[11] && $r[11]{type}, 'ok',
    'the 12th, read once the rate allows another: ok';

$redis->start;
close_all($d);
wait_until(sub { api($ng[0], 'GET', '/health')->{status} == 200 }, 10, 0.05);

# ---- a flood of sends past the rate: each refusal pauses the connection
# as a refused request does, and its sends until the rate lets up are
# refused without Redis, so 20 000 sends pipelined get the rate and at
# most 64 refusals a second (and those already under way when the first
# came back), not a Redis script and an error each
my $f = sprintf 'uf%d%04x', $$, int rand 65536;
my $raw = raw_connect($ng[0]->port, '/chat/ws',
    { Authorization => 'Bearer ' . token(sub => $f) });
is $raw->read_json(5)->{type}, 'welcome', 'flooder: welcome';
my $sock = $raw->sock;
my $all = join '', map { ChatTest::Raw::frame_bytes(1,
    qq({"type":"send","id":$_,"room":"$room","body":"flood $_"})) }
    1 .. 20_000;
$sock->blocking(0);
my ($off, $limited, $buf) = (0, 0, '');
my $t0 = time;
while (time - $t0 < 3) {
    my $n = syswrite $sock, $all, length($all) - $off, $off;
    $off += $n if $n;
    while (my $k = sysread $sock, my $d, 65536) {
        $buf .= $d;
    }
    select undef, undef, undef, 0.01;
}
my $secs = time - $t0;
$limited = () = $buf =~ /"rate_limited"/g;
$ok = () = $buf =~ /"type":"ok"/g;
$raw->close;
diag sprintf 'send flood: %d bytes of %d written, %d ok, %d rate_limited '
    . 'in %.1f s', $off, length $all, $ok, $limited, $secs;
cmp_ok $ok, '<=', 10 + int(($secs + 1) / 0.5) + 1,
    'the flood: no more sent than the rate allows';
cmp_ok $limited, '>', 0, 'the rest refused';
my $bound = 64 * (int($secs) + 2) + 256;
cmp_ok $limited, '<=', $bound, "at most 64 refusals a second, and the "
    . "256 sends checked at once before the first ($bound), not 20 000";
# every acknowledged send stored; sends that passed the rate but whose
# answer was not read when the flooder went may be stored too, within
# what the rate allows
my $stored;
wait_until(sub {
    my $n = psql(backends()->{conninfo},
                 "select count(*) from messages where sender = '$f'");
    my $same = defined $stored && $n == $stored;
    $stored = $n;
    $same;
}, 5, 0.3);
cmp_ok $stored, '>=', $ok,
    "what was acknowledged is stored ($ok acknowledged, $stored stored)";
cmp_ok $stored, '<=', 10 + int(($secs + 2) / 0.5) + 1,
    'and no more than the rate allows';

$_->stop for @ng;
done_testing;
