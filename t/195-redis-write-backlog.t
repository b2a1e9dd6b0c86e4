# A command connection to Redis whose socket is full: a command leaves
# at the end of the loop tick that queued it, and what the socket does
# not take waits for it to take more.  Sends of the redis store queued
# while Redis is stopped (SIGSTOP), far more bytes than its socket holds,
# are all acknowledged once it continues, numbered in the order they were
# sent, and the sender and a receiver on the other nginx get each once,
# in order; no worker crashes.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use ChatTest;

my $SENDS = 120;            # of BODY bytes each: about 7 MB queued
my $BODY = 60000;

my $redis = start_redis();
my @ng = map {
    start_nginx(workers => 1, redis => $redis->addr, http => <<'HTTP',
chat_redis_timeout 60s;
chat_frame_max 131072;
chat_message_max 65536;
chat_send_queue_max 64m;
HTTP
                server => <<'CONF') } 1 .. 2;
        location /chat/live {
            chat_ws;
            chat_store redis;
            chat_request_rate off;
            chat_user_send_rate off;
        }
CONF
my @url = map { 'ws://127.0.0.1:' . $_->port . '/chat/live' } @ng;
my $room = rand_room('backlog');

sub joined {
    my ($c) = @_;
    my $j = $c->request({ type => 'join', room => $room }, 10);
    die "join failed\n" unless $j && $j->{type} eq 'ok';
}

my $snd = login($url[0], 'sender');
my @rcv = (login($url[1], 'r1'));
joined($_) for $snd, @rcv;

my $probe = $snd->request({ type => 'send', room => $room, body => 'probe' },
                          10);
is $probe && $probe->{type}, 'ok', 'a send is answered before the stall';

my $pid = do { local (@ARGV, $/) = ("$redis->{dir}/redis.pid"); <> };
chomp $pid;
kill 'STOP', $pid or die "SIGSTOP redis: $!";

# each body says which send it is, and fills the rest
my @ids;
for my $i (1 .. $SENDS) {
    my $body = sprintf '%04d ', $i;
    $body .= 'x' x ($BODY - length $body);
    my $id = "b$i";
    push @ids, $id;
    $snd->send_json({ type => 'send', id => $id, room => $room,
                      body => $body }) or last;
}
is scalar(@ids), $SENDS, "$SENDS sends written while Redis is stopped";

# bytes the kernel holds on the connections to a port, both ends
sub kernel_bytes {
    my ($port) = @_;
    my $q = 0;
    for (split /\n/, `ss -tnH state established '( dport = :$port or sport = :$port )' 2>/dev/null`) {
        my @f = split ' ';
        $q += $f[0] + $f[1];
    }
    return $q;
}

# Mojo has written every frame of $c
sub flushed {
    my ($c) = @_;
    my $id = $c->{tx} && $c->{tx}->connection;
    my $st = $id && Mojo::IOLoop->singleton->stream($id);
    return $st && !$st->is_writing;
}

# once the client has written every send, nginx has read them all and
# its sockets to Redis stopped filling, the rest of the queue waits in
# the worker
my ($last, $at) = (-1, 0);
my $tick = Mojo::IOLoop->recurring(0.05 => sub { });
ok run_loop(sub {
    return 0 if time - $at < 0.2;
    $at = time;
    my $k = kernel_bytes($redis->port);
    my $steady = $k == $last && $k > 0 && flushed($snd)
                 && kernel_bytes($ng[0]->port) == 0;
    $last = $k;
    return $steady;
}, 30), 'nginx read every send; the sockets to Redis stopped filling';
Mojo::IOLoop->remove($tick);
my $total = $SENDS * $BODY;
cmp_ok $last, '<', $total,
    "the sockets to Redis hold $last bytes of the $total queued";
ok !grep({ ($_->{type} // '') eq 'ok' && ($_->{id} // '') =~ /^b/ }
         @{ $snd->{queue} }), 'nothing answered while Redis is stopped';

kill 'CONT', $pid;

my @r = $snd->collect_replies(\@ids, 30);
my @ok = grep { $_ && $_->{type} eq 'ok' } @r;
is scalar(@ok), $SENDS, 'every send acknowledged once Redis continues'
    or diag explain [grep { !$_ || $_->{type} ne 'ok' } @r];
is_deeply [map { $_->{seq} } @ok], [map { $_ + 1 } 1 .. $SENDS],
    'numbered in the order they were sent';

for my $c ($snd, @rcv) {
    my @m = $c->wait_messages($room, $SENDS + 1, 30);
    is_deeply [map { $_->{seq} } @m], [1 .. $SENDS + 1],
        "$c->{user}: every message once, in order";
    is_deeply [map { substr $_->{body}, 0, 4 } @m[1 .. $#m]],
        [map { sprintf '%04d', $_ } 1 .. $SENDS], "$c->{user}: bodies in order";
}

is_deeply [map { $_->crashes } @ng], [], 'no worker crashed';

close_all($snd, @rcv);
$_->stop for @ng;
done_testing;
