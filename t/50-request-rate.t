# chat_request_rate: every request but send costs from its connection's
# budget, limit_req style; beyond it a request gets rate_limited with
# retry_after and its id, and is not run; past 64 refusals in a second the
# connection is not read until the second is over.
# chat_rooms_per_connection caps the rooms one connection joins.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use ChatTest;

my $tag = "rr$$" . int(rand 1e6);    # user names of this run only

# /chat/ws: no refill within the test; /chat/ws2: 2r/s burst=4
my $ng = start_nginx(
    loc => 'chat_request_rate 1r/m burst=9; chat_rooms_per_connection 3;',
    server => 'location /chat/ws2 { chat_ws; chat_request_rate 2r/s burst=4; }'
            . ' location /chat/ws3 { chat_ws; chat_request_rate off; }',
);

sub is_limited {
    my ($r, $id, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    ok($r && $r->{type} eq 'error' && $r->{code} eq 'rate_limited'
       && defined $r->{id} && $r->{id} eq $id
       && defined $r->{retry_after} && $r->{retry_after} =~ /^\d+$/
       && $r->{retry_after} >= 1, $name) or diag explain $r;
}

# ---- each request type costs one; sends cost nothing
{
    my $user = "${tag}a";
    my $c = login($ng, $user);
    my $room = rand_room('rate');
    my @ten = (
        { type => 'ping' },
        { type => 'join', room => $room },
        { type => 'history', room => $room },
        { type => 'read', room => $room, seq => 1 },
        { type => 'typing', room => $room },
        { type => 'edit', room => $room, seq => 1, body => 'x' },
        { type => 'presence', room => $room },
        { type => 'refresh', token => token(sub => $user) },
        { type => 'no-such-type' },
        { type => 'leave', room => $room },
    );
    my @r = map { $c->request($_) } @ten;
    is scalar(grep { $_ && !($_->{type} eq 'error'
                             && $_->{code} eq 'rate_limited') } @r), 10,
        'the burst: 10 requests of every kind are served';
    is $r[0]{type}, 'pong', 'ping: pong';
    is $r[1]{type}, 'ok', 'join: ok';

    is $c->request({ type => 'send', room => $room, body => 'still' })->{type},
        'ok', 'a send after the budget is spent: ok (sends have their own)';

    for my $m ({ type => 'ping' }, { type => 'join', room => $room },
               { type => 'history', room => $room },
               { type => 'read', room => $room, seq => 1 },
               { type => 'leave', room => $room },
               { type => 'refresh', token => token(sub => $user) },
               { type => 'typing', room => $room },
               { type => 'no-such-type' }) {
        my $id = "over-$m->{type}";
        is_limited $c->request({ %$m, id => $id }), $id,
            "$m->{type} beyond the budget: rate_limited, retry_after, id";
    }
    my $r = $c->request({ type => 'ping', id => 'last' });
    ok $r->{retry_after} <= 60, "retry_after $r->{retry_after} is at most "
        . 'the 60 s of one request at 1r/m';

    # not run: the join beyond the budget did not join
    my $other = login($ng, "${tag}b");
    my $room2 = rand_room('rate-nojoin');
    is $other->request({ type => 'join', room => $room2 })->{type}, 'ok',
        'another connection joins a room';
    is_limited $c->request({ type => 'join', room => $room2, id => 'j2' }),
        'j2', 'the limited connection joins it: rate_limited';
    is $other->request({ type => 'send', room => $room2, body => 'hi' })->{type},
        'ok', 'a message goes to the room';
    ok $other->wait_for(sub { ($_->{type} // '') eq 'message' }, 5),
        'the joined connection gets it';
    my $got = $c->wait_for(sub { ($_->{type} // '') eq 'message'
                                 && $_->{room} eq $room2 }, 0.5);
    ok !$got, 'the limited connection, whose join was not run, does not';

    # a request without id: the error still comes, without id
    $c->send_json({ type => 'ping' });
    my $e = $c->wait_for(sub { ($_->{code} // '') eq 'rate_limited'
                               && !exists $_->{id} }, 5);
    ok $e && $e->{retry_after} >= 1, 'without id: rate_limited without id';
    close_all($c, $other);
}

# ---- a flood: the budget passes, the rest is refused, and the connection
# works again after retry_after
{
    my $url = 'ws://127.0.0.1:' . $ng->port . '/chat/ws2';
    my $c = login($url, "${tag}c");
    my @ids = map { "f$_" } 1 .. 200;
    my $t0 = time;
    my @r = $c->pipeline([map { { type => 'ping', id => $_ } } @ids], 10);
    my $took = time - $t0;
    is scalar(grep { defined } @r), 200, 'every request of the flood answered';
    my @pong = grep { $_ && $_->{type} eq 'pong' } @r;
    my @lim = grep { $_ && ($_->{code} // '') eq 'rate_limited' } @r;
    # 64 refusals at most in a second: the 195 refused take 3 s or more
    my $refill = int(2 * $took) + 1;
    ok @pong >= 5 && @pong <= 5 + $refill,
        'burst + 1 (5) pass, and what the rate refills meanwhile '
        . "($refill in ${took}s): " . scalar @pong;
    cmp_ok $took, '>=', 2, 'past 64 refusals a second, the connection '
        . 'waits for the next second before it is read again';
    is @pong + @lim, 200, 'the others: rate_limited';
    is_deeply [map { $_->{id} } @r], \@ids, 'each answer carries its id';
    is scalar(grep { $_->{retry_after} == 1 } @lim), scalar @lim,
        'retry_after 1 (the next request at 2r/s is due within 1 s)';

    # the client does as told: waits retry_after, then goes on
    run_loop(sub { 0 }, $lim[-1]{retry_after});
    my $room = rand_room('after');
    is $c->request({ type => 'ping', id => 'again' })->{type}, 'pong',
        'after retry_after: pong';
    is $c->request({ type => 'join', room => $room })->{type}, 'ok',
        'and a join is served';
    close_all($c);
}

# ---- chat_request_rate off: no budget
{
    my $url = 'ws://127.0.0.1:' . $ng->port . '/chat/ws3';
    my $c = login($url, "${tag}e");
    my @r = $c->pipeline([map { { type => 'ping' } } 1 .. 500], 10);
    is scalar(grep { $_ && $_->{type} eq 'pong' } @r), 500,
        'off: 500 pings at once, 500 pongs';
    close_all($c);
}

# ---- chat_rooms_per_connection 3
{
    my $user = "${tag}d";
    my $c = login($ng, $user);
    my @rooms = map { rand_room("cap$_") } 1 .. 5;
    my @r = $c->pipeline([map { { type => 'join', room => $_ } }
                          @rooms[0 .. 3]], 10);
    is_deeply [map { $_->{type} } @r[0 .. 2]], [qw(ok ok ok)],
        'three joins at once: ok';
    is $r[3]{type}, 'error', 'the fourth, while they are in progress: error';
    is $r[3]{code}, 'too_large', '... too_large';
    ok defined $r[3]{id}, '... with its id';
    is $c->request({ type => 'join', room => $rooms[0] })->{type}, 'ok',
        'joining a room joined already: ok, not refused';
    is $c->request({ type => 'leave', room => $rooms[1] })->{type}, 'ok',
        'leave one';
    is $c->request({ type => 'join', room => $rooms[3] })->{type}, 'ok',
        'then the fourth: ok';
    is $c->request({ type => 'join', room => $rooms[4] })->{code}, 'too_large',
        'and a fifth: too_large';
    my $c2 = login($ng, $user);
    @r = $c2->pipeline([map { { type => 'join', room => $_ } }
                        @rooms[2 .. 4]], 10);
    is scalar(grep { $_->{type} eq 'ok' } @r), 3,
        'the same user on another connection: a cap of its own';
    close_all($c, $c2);
}

$ng->stop;
done_testing;
