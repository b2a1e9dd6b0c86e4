# Server pings and the pong deadline (RFC 6455 5.5.2, 5.5.3): a client
# that answers stays; one that stops answering is dropped.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use ChatTest;

# a pong timeout of 1 s: the answering client below may be descheduled
# for a moment on a busy machine without being dropped
my $ng = start_nginx(loc => 'chat_ping_interval 400ms; '
                          . 'chat_pong_timeout 1s;');

# ---- a client that answers every ping stays connected
{
    my $c = raw_connect($ng->port, '/chat/ws',
        { Authorization => 'Bearer ' . token(sub => 'steady') });
    is $c->status, 101, 'upgraded';
    my $w = $c->read_json(5);
    is $w && $w->{type}, 'welcome', 'welcome';

    my ($pings, $empty) = (0, 1);
    my $end = time + 3;
    while (time < $end) {
        my $f = $c->read_frame($end - time) or last;
        next unless $f->{opcode} == 9;
        $pings++;
        $empty = 0 if length $f->{payload};
        $c->send_frame(10, $f->{payload});
    }
    cmp_ok $pings, '>=', 4, "server pinged $pings times in 3 s";
    ok $empty, 'server pings carry no payload';
    ok !$c->{eof}, 'a client that answers is not dropped';

    $c->send_json({ type => 'ping', id => 'still-here' });
    my $p = $c->read_json(5);
    is $p && $p->{id}, 'still-here', 'and it is still served';
    $c->close;
}

# ---- a client that stops answering is dropped after the pong deadline
{
    my $c = raw_connect($ng->port, '/chat/ws',
        { Authorization => 'Bearer ' . token(sub => 'silent') });
    is $c->status, 101, 'upgraded';
    my $f;
    do { $f = $c->read_frame(3) } while ($f && $f->{opcode} != 9);
    ok $f, 'first ping arrives';
    my $t0 = time;
    # no pong from here on
    ok $c->is_eof(5), 'connection dropped without a pong';
    my $took = time - $t0;
    cmp_ok $took, '<', 3, sprintf('dropped %.1f s after the ping', $took);
}

# ---- pings go to clients still authenticating, too
{
    my $c = raw_connect($ng->port, '/chat/ws', {});
    is $c->status, 101, 'upgraded without a token';
    my $f = $c->read_frame(3);
    is $f && $f->{opcode}, 9, 'pinged before authenticating';
    $c->close;
}

$ng->stop;
done_testing;
