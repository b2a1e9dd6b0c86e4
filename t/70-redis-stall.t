# Redis stops answering (SIGSTOP) without closing its connections: every
# command has chat_redis_timeout to be answered, then the connection is
# made anew.  Sends of the redis store get unavailable within about the
# timeout, not a hang; a join of a new room is answered; sends of the
# durable store are acknowledged and, once Redis answers again (SIGCONT),
# every receiver on both nginx has every one of them exactly once, in
# order; the redis store works again; no worker crashes.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use ChatTest;

my $redis = start_redis();
my @ng = map {
    start_nginx(workers => 2, listen => 'reuseport', redis => $redis->addr,
                http => 'chat_redis_timeout 1s;', server => <<'CONF') } 1 .. 2;
        location /chat/live {
            chat_ws;
            chat_store redis;
        }
CONF
my $live = 'ws://127.0.0.1:' . $ng[0]->port . '/chat/live';
my $room = rand_room('stall');
my $relay_room = rand_room('stall-live');
my @open;

sub joined {
    my ($c, $r) = @_;
    my $j = $c->request({ type => 'join', room => $r }, 10);
    die "join $r failed\n" unless $j && $j->{type} eq 'ok';
    return $j;
}

sub sends {
    my ($c, $r, $tag, $n) = @_;
    return $c->pipeline([map { { type => 'send', room => $r,
                                 client_msg_id => "$tag$_",
                                 body => "$tag $_" } } 1 .. $n], 10);
}

my @rcv = map { my $n = $_; map { login($ng[$n], "r$n$_") } 1 .. 3 } 0 .. 1;
my $snd = login($ng[0], 'sender');
my $lsnd = login($live, 'live-sender');
push @open, @rcv, $snd, $lsnd;
joined($_, $room) for @rcv, $snd;
joined($lsnd, $relay_room);

sub relay_acked {
    my $r = $lsnd->request({ type => 'send', room => $relay_room,
                             body => 'probe' });
    return $r && $r->{type} eq 'ok';
}

# every worker reaches Redis: a send of the redis store is acknowledged
ok wait_until(\&relay_acked, 20, 0.1),
    'the redis store answers before the stall';

my @acked = grep { $_ && $_->{type} eq 'ok' } sends($snd, $room, 'before', 5);
is scalar(@acked), 5, 'five durable sends before the stall';

my $pid = do { local (@ARGV, $/) = ("$redis->{dir}/redis.pid"); <> };
chomp $pid;
kill 'STOP', $pid or die "SIGSTOP redis: $!";

# ---- Redis hangs
{
    my $t0 = time;
    my @r = sends($lsnd, $relay_room, 'stalled', 3);
    my $took = time - $t0;
    is scalar(grep { $_ && ($_->{code} // '') eq 'unavailable' } @r), 3,
        'redis store: three sends answered unavailable'
        or diag explain \@r;
    cmp_ok $took, '<', 4, "within about chat_redis_timeout (${took}s)";

    my @d = sends($snd, $room, 'during', 10);
    is scalar(grep { $_ && $_->{type} eq 'ok' } @d), 10,
        'durable store: ten sends acknowledged during the stall'
        or diag explain \@d;
    push @acked, grep { $_ && $_->{type} eq 'ok' } @d;

    # its subscription is not confirmed: the join goes on without it
    my $c = login($ng[1], 'late');
    push @open, $c;
    $t0 = time;
    my $j = $c->request({ type => 'join', room => rand_room('new') }, 10);
    is $j && $j->{type}, 'ok', 'a join of a new room is answered';
    cmp_ok time - $t0, '<', 5, 'within about chat_redis_timeout';

    # a worker logged why it made its connection anew
    ok wait_until(sub {
        grep { $_->error_log =~ /redis \S+ connection: no answer in time/ }
            @ng;
    }, 5, 0.1), 'the timeout is logged';
}

kill 'CONT', $pid;

# ---- Redis answers again
{
    ok wait_until(\&relay_acked, 20, 0.1),
        'redis store: acknowledged again once Redis answers';

    my @a = sends($snd, $room, 'after', 5);
    is scalar(grep { $_ && $_->{type} eq 'ok' } @a), 5,
        'durable store: sends after the stall acknowledged';
    push @acked, grep { $_ && $_->{type} eq 'ok' } @a;
}

my $total = @acked;
is_deeply [map { $_->{seq} } @acked], [1 .. $total],
    "acknowledged seqs 1..$total";
for my $i (0 .. $#rcv) {
    my @m = $rcv[$i]->wait_messages($room, $total, 20);
    is_deeply [map { $_->{seq} } @m], [1 .. $total],
        "receiver $i (nginx " . int($i / 3) . "): 1..$total once, in order";
}

is_deeply [map { $_->crashes } @ng], [], 'no worker crashed';

close_all(@open);
$_->stop for @ng;
done_testing;
