# chat_store redis (docs/protocol.md "The redis store"): a send is one
# Redis script that takes the room's next seq and publishes the event;
# nothing is written to PostgreSQL; only a connection that joined the room
# may send; every worker delivers from its Redis subscription, in seq
# order; Redis down gives unavailable, and Redis back works again.  The
# durable location beside it keeps its own stream of the same room.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Mojo::JSON qw(true);
use Time::HiRes qw(time);
use ChatTest;

my $redis = start_redis();
my $ng = start_nginx(workers => 2, listen => 'reuseport',
                     redis => $redis->addr,
                     http => 'chat_redis_timeout 1s;', server => <<'CONF');
        location /chat/live {
            chat_ws;
            chat_store redis;
        }
        location /chat/live-api/ {
            chat_api;
            chat_store redis;
        }
CONF
my $live = 'ws://127.0.0.1:' . $ng->port . '/chat/live';
my $live_api = $ng->url . '/chat/live-api';
my $ci = ChatTest::backends()->{conninfo};
my $room = rand_room('relay');
my @open;

sub live_login { my $c = login($live, @_); push @open, $c; $c }

sub joined {
    my ($c, $r) = @_;
    my $j = $c->request({ type => 'join', room => $r });
    die "join $r failed: " . Mojo::JSON::encode_json($j) . "\n" unless $j && $j->{type} eq 'ok';
    return $j;
}

sub live_post {
    my ($user, $path, $json) = @_;
    return http_request('POST', "$live_api$path", json => $json,
        headers => { Authorization => 'Bearer ' . token(sub => $user) });
}

# twelve receivers, more if reuseport has hashed them all to one worker
my @rcv = spread_clients($ng, 12, sub { live_login("r$_[0]") });
my @snd = map { live_login("s$_") } 1 .. 4;

# ---- every worker is connected to Redis: each sender reaches everyone
{
    my $warm = rand_room('warm');
    joined($_, $warm) for @rcv, @snd;
    my $ok = wait_until(sub {
        for my $s (@snd) {
            my $r = $s->request({ type => 'send', room => $warm, body => 'w' });
            return 0 unless $r && $r->{type} eq 'ok';
        }
        return 1;
    }, 20, 0.1);
    ok $ok, 'every sender is acknowledged';
    my $all = ChatTest::run_loop(sub {
        !grep { my $c = $_;
                (grep { ($_->{room} // '') eq $warm } @{ $c->queue }) < 4 }
            @rcv
    }, 10);
    ok $all, 'every receiver gets a message from every sender';
    $_->take_messages($warm) for @rcv, @snd;
}

my %pids = map { $_ => 1 } grep { defined } worker_of($ng, @rcv);
SKIP: {
    skip 'ss shows no process owners', 1 unless %pids;
    is scalar(keys %pids), 2, 'the receivers are spread over both workers';
}

# ---- sends from four connections at once: one seq order everywhere
joined($_, $room) for @rcv, @snd;
my (%ack, @bad);
{
    my @ids;
    for my $k (1 .. 25) {
        for my $i (0 .. $#snd) {
            my $id = "s$i-$k";
            push @{ $ids[$i] }, $id;
            $snd[$i]->send_json({ type => 'send', room => $room, id => $id,
                                  body => "body $id", client_msg_id => $id });
        }
    }
    for my $i (0 .. $#snd) {
        my @r = $snd[$i]->collect_replies($ids[$i], 10);
        my @seqs;
        for my $r (@r) {
            if ($r && $r->{type} eq 'ok') {
                $ack{ $r->{seq} } = { %$r, body => "body $r->{id}" };
                push @seqs, $r->{seq};
            } else {
                push @bad, $r;
            }
        }
        is_deeply \@seqs, [sort { $a <=> $b } @seqs],
            "sender $i: seqs increase in the order sent";
    }
}
is scalar(@bad), 0, 'every send acknowledged' or diag explain \@bad;
is_deeply [sort { $a <=> $b } keys %ack], [1 .. 100],
    'the acks carry seqs 1..100 of a fresh room';
my %msg_ids = map { $_->{msg_id} // 0 => 1 } values %ack;
is scalar(grep { $_ > 0 } keys %msg_ids), 100, 'every ack has its own msg_id';
is scalar(grep { $_->{room} ne $room || abs($_->{ts} - time * 1000) > 60000 }
          values %ack), 0, 'every ack names the room and a ts of now';
is scalar(grep { ($_->{rev} // -1) != $_->{seq} } values %ack), 0,
    'every ack has rev, equal to its seq (this store has messages only)';

for my $i (0 .. $#rcv) {
    my @m = $rcv[$i]->wait_messages($room, 100, 10);
    my @wrong = grep {
        my $a = $ack{ $_->{seq} };
        !$a || $_->{body} ne $a->{body} || $_->{msg_id} != $a->{msg_id}
            || $_->{ts} != $a->{ts} || $_->{client_msg_id} ne $a->{id}
            || $_->{from} !~ /^s\d$/ || ($_->{rev} // -1) != $_->{seq}
    } @m;
    my $good = is_deeply [map { $_->{seq} } @m], [1 .. 100],
        "receiver $i: 1..100 once each, in order";
    $good &&= is scalar(@wrong), 0,
        "receiver $i: events match the acks, rev equal to seq";
    last unless $good;
}
$_->take_messages($room) for @snd;

is psql($ci, "select count(*) from messages where room_id = '$room'"), 0,
    'nothing is written to the messages table';
is psql($ci, "select last_seq from rooms where id = '$room'"), 0,
    'the room exists, with no stored seq';
is psql($ci, "select count(*) from members where room_id = '$room'"), 16,
    'each join made a member';

# ---- only a joined connection may send
{
    my $other = rand_room('relay-other');
    my $c = live_login('loner');
    my $r = $c->request({ type => 'send', room => $room, body => 'x' });
    is $r->{type}, 'error', 'a send to a room not joined fails';
    is $r->{code}, 'forbidden', 'with forbidden';
    $r = $snd[0]->request({ type => 'send', room => $other, body => 'x' });
    is $r->{code}, 'forbidden', 'a member of another room: forbidden too';
    joined($c, $other);
    $r = $c->request({ type => 'send', room => $other, body => 'first' });
    is $r->{seq}, 1, 'the refused sends took no seq';

    my $priv = rand_room('relay-priv');
    my $p = api($ng, 'POST', '/rooms', user => 'owner',
                json => { room => $priv, private => true });
    is $p->{status}, 201, 'a private room';
    $r = $c->request({ type => 'join', room => $priv });
    is $r->{code}, 'forbidden', 'the join still checks access';
    my $o = live_login('owner');
    is joined($o, $priv)->{type}, 'ok', 'its owner joins';
    is live_post('loner', "/rooms/$priv/messages", { body => 'x' })->{status},
        403, 'REST: no access, 403';
}

# ---- nothing stored: no history, no cursor
{
    my $r = $snd[0]->request({ type => 'history', room => $room });
    is $r->{code}, 'bad_request', 'history: bad_request';
    like $r->{message}, qr/not stored/, 'history: says why';
    $r = $snd[0]->request({ type => 'read', room => $room, seq => 1 });
    is $r->{code}, 'bad_request', 'read: bad_request';
    is_api_error(http_request('GET', "$live_api/rooms/$room/messages",
        headers => { Authorization => 'Bearer ' . token(sub => 'late') }),
        400, 'bad_request', 'REST history: 400');
    is_api_error(live_post('late', "/rooms/$room/read", { seq => 1 }),
                 400, 'bad_request', 'REST read: 400');
}

# ---- a REST send takes the same path
{
    my $p = live_post('rest', "/rooms/$room/messages",
                      { body => 'by rest', client_msg_id => 'r1' });
    is $p->{status}, 201, 'REST send: 201';
    is $p->{json}{seq}, 101, 'REST send: the next seq';
    ok $p->{json}{msg_id} && $p->{json}{ts}, 'REST send: msg_id and ts';
    my $all = 1;
    for my $c (@rcv) {
        my ($m) = $c->wait_messages($room, 1, 5);
        $all &&= $m && $m->{seq} == 101 && $m->{body} eq 'by rest'
                 && $m->{msg_id} == $p->{json}{msg_id};
    }
    ok $all, 'every receiver gets it';
}

# ---- the durable location has its own stream of the same room
{
    my $d = login($ng, 'durable');
    push @open, $d;
    is joined($d, $room)->{seq}, 0, 'a durable join: stored seq 0';
    my $r = $d->request({ type => 'send', room => $room, body => 'stored' });
    is $r->{seq}, 1, 'a durable send: stored seq 1';
    my ($m) = $d->wait_messages($room, 1, 5);
    is $m->{body}, 'stored', 'the durable member gets it';
    $r = $snd[0]->request({ type => 'send', room => $room, body => 'mark' });
    is $r->{seq}, 102, 'the redis stream goes on at 102';
    my @m = $rcv[0]->wait_messages($room, 1, 5);
    is_deeply [map { $_->{body} } @m], ['mark'],
        'redis members do not get the durable message';
    $r = $d->request({ type => 'send', room => $room, body => 'stored 2' });
    is $r->{seq}, 2, 'durable seq 2';
    @m = $d->wait_messages($room, 1, 5);
    is_deeply [map { $_->{body} } @m], ['stored 2'],
        'the durable member gets no redis message';
    is psql($ci, "select count(*) from messages where room_id = '$room'"), 2,
        'only the durable sends are stored';
    $_->take_messages($room) for @rcv, @snd;

    # with stored messages of the room, a redis join still replays none
    my $c = live_login('late');
    $r = $c->request({ type => 'join', room => $room, since => 0 });
    is $r->{type}, 'ok', 'a redis join with since';
    ok $r->{seq} == 102 || $r->{seq} == 0,
        'its seq is of the redis stream (0: a worker new to the room)';
    is $c->request({ type => 'ping' })->{type}, 'pong', 'a round trip';
    is scalar($c->take_messages($room)), 0, 'nothing replayed';
}

# ---- Redis stopped: unavailable; Redis back: sends work again
$redis->stop;
{
    my $r = $snd[0]->request({ type => 'send', room => $room, body => 'x' });
    is $r->{type}, 'error', 'a send while Redis is down fails';
    is $r->{code}, 'unavailable', 'with unavailable';
    is_api_error(live_post('rest', "/rooms/$room/messages", { body => 'x' }),
                 503, 'unavailable', 'REST: 503');
}
$redis->start;
{
    my $first;
    my $ok = wait_until(sub {
        my $r = $snd[0]->request({ type => 'send', room => $room,
                                   body => 'probe' });
        $first = $r->{seq} if $r && $r->{type} eq 'ok';
        return defined $first;
    }, 20, 0.1);
    ok $ok, 'a send is acknowledged again, nginx not restarted';
    cmp_ok $first, '<', 100, 'Redis lost its counter: seqs start anew';

    # every worker resubscribes; until then its members miss the probes
    my $all = wait_until(sub {
        $snd[1]->request({ type => 'send', room => $room, body => 'probe' });
        ChatTest::run_loop(sub {
            !grep { my $c = $_; !grep { ($_->{room} // '') eq $room }
                                    @{ $c->queue } } @rcv
        }, 0.3);
    }, 20, 0);
    ok $all, 'every receiver gets messages again';

    # and every sender's worker can send (its command connection is back)
    ok wait_until(sub {
        !grep { my $r = $_->request({ type => 'send', room => $room,
                                      body => 'probe' });
                !($r && $r->{type} eq 'ok') } @snd
    }, 20, 0.1), 'every sender is acknowledged again';

    # a Redis without the script: EVALSHA fails, EVAL loads it again
    ChatTest::sh('redis-cli', '-p', $redis->port, 'SCRIPT', 'FLUSH');
    my $r = $snd[2]->request({ type => 'send', room => $room,
                               body => 'probe' });
    is $r->{type}, 'ok', 'a send after SCRIPT FLUSH';
    my @r = $snd[2]->pipeline([map { { type => 'send', room => $room,
                                       body => "after $_" } } 1 .. 20], 10);
    my @seqs = map { $_ && $_->{seq} } @r;
    is_deeply \@seqs, [$seqs[0] .. $seqs[0] + 19], '20 more, consecutive seqs';
    for my $c (@rcv) {
        # the probes came first: each was acknowledged before the burst
        ChatTest::run_loop(sub {
            (grep { ($_->{body} // '') =~ /^after/ } @{ $c->queue }) >= 20
        }, 10);
        my @m = grep { $_->{body} =~ /^after/ } $c->take_messages($room);
        is_deeply [map { $_->{seq} } @m], \@seqs,
            "receiver $c->{user}: the 20 in order" or last;
    }
}

# ---- Redis hangs: unavailable after chat_redis_timeout; then it answers
{
    my $pid = do { local (@ARGV, $/) = ("$redis->{dir}/redis.pid"); <> };
    chomp $pid;
    kill 'STOP', $pid or die "SIGSTOP redis: $!";
    my $t0 = time;
    my $r = $snd[0]->request({ type => 'send', room => $room, body => 'x' },
                             10);
    my $took = time - $t0;
    kill 'CONT', $pid;
    is $r && $r->{code}, 'unavailable', 'a send to a hung Redis: unavailable';
    cmp_ok $took, '<', 5, 'within about chat_redis_timeout';
    my $ok = wait_until(sub {
        my $a = $snd[0]->request({ type => 'send', room => $room,
                                   body => 'probe' });
        $a && $a->{type} eq 'ok';
    }, 20, 0.1);
    ok $ok, 'and acknowledged again once Redis answers';
}

# ---- the durable location is unchanged
{
    my $d = login($ng, 'durable2');
    push @open, $d;
    my $r = $d->request({ type => 'send', room => $room, body => 'stored 3' });
    is $r->{seq}, 3, 'durable send after the restart: stored seq 3';
}

close_all(@open);
$ng->stop;
done_testing;
