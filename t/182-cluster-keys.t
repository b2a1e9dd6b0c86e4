# chat_redis cluster: every Redis use besides room fanout works on a
# 3-primary cluster, each command on the node of its key's slot.  The
# redis store (one script: the room's seq, the msg_id counter of the
# room's slot, SPUBLISH), a user's send rate across two instances (its
# own slot), the connections cap (the users' keys and the workers' alive
# keys, one hash tag), a global ban (key and users' channel).  And the
# directive: "cluster" with its seeds, refused without them or with a
# prefix holding a hash tag.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;
use ChatTest::Cluster;

my $c = ChatTest::Cluster->launch(primaries => 3);
my @ng = map { start_nginx(workers => 2, listen => 'reuseport',
                           redis => $c->seeds,
                           # ten at once, then one every 6 s: the 11th is
                           # refused however slowly the first ten go
                           http => "chat_user_connections_max 3;\n"
                                 . 'chat_user_send_rate 10r/m burst=9;',
                           server => <<'CONF') } 1 .. 2;
        location /chat/live {
            chat_ws;
            chat_store redis;
        }
CONF
for my $n (@ng) {
    ok wait_until(sub { api($n, 'GET', '/health')->{status} == 200 }, 10),
        'health ok on the cluster';
}

# ---- the redis store: rooms on every primary, both instances
{
    my %on;
    while (keys %on < 3) {
        my $r = rand_room('relay');
        $on{ $c->owner($c->slot($r)) } //= $r;
    }
    my %ids;
    for my $room (values %on) {
        my @rcv = map { login('ws://127.0.0.1:' . $ng[$_]->port
                              . '/chat/live', "lr$_-$room") } 0, 1;
        for (@rcv) {
            my $j = $_->request({ type => 'join', room => $room });
            die 'join failed' unless $j && $j->{type} eq 'ok';
        }
        my @a = $rcv[0]->pipeline([map { { type => 'send', room => $room,
                                           body => "x$_" } } 1 .. 10]);
        is_deeply [map { $_ && $_->{seq} } @a], [1 .. 10],
            "redis store, room $room: seq 1..10";
        $ids{$_->{msg_id}}++ for grep { $_ } @a;
        my @m = $rcv[1]->wait_messages($room, 10, 10);
        is_deeply [map { $_->{seq} } @m], [1 .. 10],
            'the other instance got them in order';
        $_->close for @rcv;
    }
    is scalar(grep { $ids{$_} == 1 } keys %ids), 30,
        'msg_ids unique over rooms of three slots';
}

# ---- a user's send rate is counted once for both instances
{
    my $room = rand_room('rate');
    my $u = sprintf 'ur%d%04x', $$, int rand 65536;
    my @cl = map { login($ng[$_], $u) } 0, 1;
    $_->request({ type => 'join', room => $room }) for @cl;
    my @r = map { $_->pipeline([map { { type => 'send', room => $room,
                                        body => "b$_" } } 1 .. 5]) } @cl;
    is scalar(grep { $_ && $_->{type} eq 'ok' } @r), 10,
        'ten sends pass, five on each instance';
    my $r = $cl[1]->request({ type => 'send', room => $room, body => 'b6' });
    is $r && $r->{code}, 'rate_limited', 'the 11th: rate_limited'
        or diag explain $r;
    $_->close for @cl;
}

# ---- the connections cap: three over both instances
{
    my $u = sprintf 'uc%d%04x', $$, int rand 65536;
    my @cl = (login($ng[0], $u), login($ng[1], $u), login($ng[0], $u));
    my $res = ws_connect($ng[1]->ws_url, token => token(sub => $u));
    ok !$res->isa('ChatTest::WS') && $res->code == 429,
        'a fourth connection of the user is refused (429)';
    $_->close for @cl;
    ok wait_until(sub {
        my $w = ws_connect($ng[1]->ws_url, token => token(sub => $u));
        $w->isa('ChatTest::WS') ? ($w->close, 1) : 0;
    }, 10), 'and taken once the others closed';
}

# ---- a global ban closes the user on the other instance
{
    my $u = sprintf 'ub%d%04x', $$, int rand 65536;
    my $v = login($ng[1], $u);
    my $res = api($ng[0], 'POST', "/users/$u/ban",
                  token => token(sub => 'admin', roles => ['admin']));
    ok $res->{status} >= 200 && $res->{status} < 300, 'banned'
        or diag explain $res;
    is $v->close_code(10), 4003, 'closed with 4003 on the other instance';
}

is $_->crashes, 0, 'no worker crashed' for @ng;
$_->stop for @ng;

# ---- the directive
{
    my $dir = ChatTest::tmpdir() . '/conf';
    mkdir $dir;
    my $secret = ChatTest::secret_file();
    my $rest = 'chat_postgres "' . ChatTest::backends()->{conninfo}
        . "\"; chat_jwt_key HS256 $secret;";
    my $t = sub {
        ChatTest::Nginx->check_conf($dir, "$_[0] $rest",
                                    'location /chat/ws { chat_ws; }');
    };
    my ($ok, $out) = $t->('chat_redis ' . $c->seeds . ';');
    ok $ok, 'chat_redis cluster with three seeds passes nginx -t'
        or diag $out;
    ($ok, $out) = $t->('chat_redis cluster 127.0.0.1:7000;');
    ok $ok, 'one seed is enough' or diag $out;
    for ([ 'chat_redis cluster;', qr/address and a port/, 'no seed' ],
         [ 'chat_redis cluster 127.0.0.1:7000 localhost:7001;',
           qr/numeric address/, 'a seed by name' ],
         [ 'chat_redis cluster 127.0.0.1:0;', qr/invalid port/,
           'a bad port' ],
         [ 'chat_redis 127.0.0.1:7000 127.0.0.1:7001;',
           qr/"cluster" and its seed nodes/, 'two addresses, no "cluster"' ],
         [ 'chat_redis cluster 127.0.0.1:7000; chat_redis_prefix "{x}:";',
           qr/chat_redis_prefix.*"\{"/, 'a prefix with a hash tag' ])
    {
        ($ok, $out) = $t->($_->[0]);
        ok !$ok && $out =~ $_->[1], "refused: $_->[2]" or diag $out;
    }
}

done_testing;
