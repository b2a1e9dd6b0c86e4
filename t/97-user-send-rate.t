# chat_user_send_rate (protocol.md section 8): a user's sends are counted
# across every worker and host, in Redis.  Two nginx instances of two
# workers each share this test's own Redis: with the default (10r/5s
# burst=9) ten sends pass, split over both instances, and the next is
# rate_limited on either one, over WebSocket (retry_after) and REST (429
# with Retry-After); another user is not limited.  With Redis stopped,
# each worker counts on its own: sends still pass, up to the limit.
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
my @r = (
    $c[0]->pipeline([map { send_req("a$_") } 1 .. 5]),
    $c[1]->pipeline([map { send_req("b$_") } 1 .. 5]),
);
is scalar(grep { $_ && $_->{type} eq 'ok' } @r), 10,
    'ten sends pass, five on each instance' or diag explain \@r;

limited_ok($c[1]->request(send_req('b6')), 'the 11th on instance 1: '
           . 'rate_limited with retry_after');
limited_ok($c[0]->request(send_req('a6')), 'and on instance 0');
my $res = api($ng[0], 'POST', "/rooms/$room/messages", user => $u,
              json => { body => 'rest' });
is_api_error($res, 429, 'rate_limited', 'REST: 429');
like $res->{headers}->header('Retry-After') // '', qr/^[1-9]\d*$/,
    'with Retry-After';

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
limited_ok($r[11], 'the 12th too');

$redis->start;
close_all($d);
$_->stop for @ng;
done_testing;
