# chat_batch_hold: with commits of 50 holding the next until 50 wait
# (chat_batch_hold 50, chat_batch_max 50), a burst of 51 holds its last
# send (ngx_chat_commits_held_total), a commit of 4-6 sends held behind a
# row lock holds the next one too (a commit of 4 or more means load), and
# sends from several connections
# are all acknowledged, in each connection's order, stored once and
# gapless; a PostgreSQL outage still answers unavailable, and sends work
# again once it is back.  The directives' bounds are checked by nginx -t.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use ChatTest;
use ChatTest::Backends qw(row_lock);
use ChatTest::Prom qw(prom_num prom_scrape);

my $dir = ChatTest::tmpdir();
my $b = ChatTest::backends();
my $good = "chat_redis $b->{redis}; chat_postgres \"$b->{conninfo}\"; "
         . 'chat_jwt_key HS256 ' . ChatTest::secret_file() . ';';

for ([ 'chat_batch_hold 0; chat_batch_hold_max 5ms;', 1, 'off passes' ],
     [ 'chat_batch_hold 16; chat_batch_hold_max 10ms;', 1, 'on passes' ],
     [ 'chat_batch_hold -1;', 0, 'a negative hold is refused' ],
     [ 'chat_batch_hold 10001;', 0, 'a hold above 10000 is refused' ],
     [ 'chat_batch_hold_max soon;', 0, 'a hold_max that is no time' ])
{
    my ($extra, $want, $name) = @$_;
    my ($ok, $out) = ChatTest::Nginx->check_conf($dir, "$good $extra",
        'location /chat/ws { chat_ws; }');
    is !!$ok, !!$want, $name or diag $out;
}

my $pg = start_pg();
my $ng = start_nginx(workers => 1, pg => $pg->conninfo,
    http => 'chat_batch_hold 50; chat_batch_hold_max 1s; chat_batch_max 50;',
    server => 'location = /metrics { chat_metrics; }');
my $url = $ng->url . '/metrics';
my $held = sub { prom_num(prom_scrape($url), 'ngx_chat_commits_held_total') };
my $room = rand_room('hold');
my $burst_room = rand_room('burst');
my $late_room = rand_room('late');

my @c = map { login($ng, "h$_") } 1 .. 4;
for (@c) {
    is $_->request({ type => 'join', room => $room })->{type}, 'ok', 'join';
}
is $c[0]->request({ type => 'join', room => $burst_room })->{type}, 'ok',
    'join the bursts\' room';
is $c[1]->request({ type => 'join', room => $late_room })->{type}, 'ok',
    'join a room of its own';

# 51 sends read in one loop tick: a commit of 50, then the 51st waits for
# 49 more or the first commit's time again; a burst split over two reads
# commits less than 50 first and holds nothing, so it is tried again
is $held->(), 0, 'no commit held before any send';
my $bursts = 0;
until ($held->() > 0 || $bursts == 5) {
    $bursts++;
    my @r = $c[0]->pipeline([map { { type => 'send', room => $burst_room,
                                     body => "b$bursts-$_" } } 1 .. 51], 20);
    is scalar(grep { $_ && $_->{type} eq 'ok' } @r), 51,
        "burst $bursts: 51 sends acknowledged";
}
cmp_ok $held->(), '>', 0, "a commit held after a commit of 50 ($bursts bursts)";

# Below chat_batch_hold too: a commit of 4 or more events means load, and
# the next one waits.  The burst room's row is locked so that a commit of
# sends to it stays in flight; what else is sent meanwhile waits for it
# (a pong after a send: the send was read).  Once the lock goes, the
# commit answers with fewer than 50 waiting, and the next is held.
my $scrape = sub { prom_scrape($url) };
my $batches = sub {
    my $m = shift;
    return (prom_num($m, 'ngx_chat_commit_batch_size_count'),
            prom_num($m, 'ngx_chat_commit_batch_size_sum'));
};
my ($small, $rounds) = (0, 0);
while (!$small && $rounds < 5) {
    $rounds++;
    my $held0 = $held->();
    my $release = row_lock($pg->conninfo, "rooms where id = '$burst_room'");

    my ($n0, $s0) = $batches->($scrape->());
    my @ids = map { "k$rounds-$_" } 1 .. 6;
    $c[0]->send_json({ type => 'send', room => $burst_room, id => $_,
                       body => $_ }) for @ids;
    # its pong: the sends were read, and the first of them are in flight,
    # waiting on the lock
    $c[0]->request({ type => 'ping' });
    my ($n1, $s1) = $batches->($scrape->());
    $c[1]->send_json({ type => 'send', room => $late_room,
                       id => "late$rounds", body => 'late' });
    $c[1]->request({ type => 'ping' });
    $release->();

    my @r = $c[0]->collect_replies(\@ids, 20);
    my ($rl) = $c[1]->collect_replies(["late$rounds"], 20);
    is scalar(grep { $_ && $_->{type} eq 'ok' } @r, $rl), 7,
        "round $rounds: the sends behind a locked commit are acknowledged";
    # the commit in flight held 4 or more (the sends may come in two reads)
    next if $s1 - $s0 < 4 || $n1 - $n0 != 1;
    $small = $held->() - $held0;
}
cmp_ok $small, '>', 0, "a commit of 4 to 6 sends held the next one "
    . "(chat_batch_hold 50, $rounds rounds)";

# 4 x 100 sends in flight at once: commits of 50, each holding the next
my $n = 100;
my %ids;
for my $k (0 .. $#c) {
    $ids{$k} = [map { "s$k-$_" } 1 .. $n];
    $c[$k]->send_json({ type => 'send', room => $room, id => "s$k-$_",
                        body => "m$k-$_" }) for 1 .. $n;
}
my (%seq_of, $ordered);
$ordered = 0;
for my $k (0 .. $#c) {
    my @r = $c[$k]->collect_replies($ids{$k}, 20);
    is scalar(grep { $_ && $_->{type} eq 'ok' } @r), $n,
        "connection $k: $n sends acknowledged";
    my @s = map { $_ && $_->{seq} // 0 } @r;
    $ordered++ if !grep { $s[$_] <= $s[$_ - 1] } 1 .. $#s;
    $seq_of{"m$k-" . ($_ + 1)} = $s[$_] for 0 .. $#s;
}
is $ordered, scalar(@c), "each connection's sends committed in its order";

my $d = login($ng, 'reader');
my $id = next_id();
$d->send_json({ type => 'join', room => $room, since => 0, id => $id });
my @f = $d->recv_until(sub { ($_->{id} // '') eq $id }, 10);
my @m = grep { $_->{type} eq 'message' } @f;
is_deeply [map { $_->{seq} } @m], [1 .. 4 * $n], 'history gapless, in order';
is scalar(grep { ($seq_of{ $_->{body} } // -1) != $_->{seq} } @m), 0,
    'each body stored once, at its acknowledged seq';

# an outage while commits hold each other: ok or unavailable, never lost
my @burst = map { "o$_" } 1 .. 40;
$c[0]->send_json({ type => 'send', room => $room, id => $_,
                   client_msg_id => $_, body => $_ }) for @burst;
ChatTest::run_loop(sub { grep { ($_->{id} // '') eq 'o2' }
                         @{ $c[0]->queue } }, 5);
$pg->stop;
my @r = $c[0]->collect_replies(\@burst, 20);
is scalar(grep { $_ } @r), 40, 'every send of the burst got a reply';
is scalar(grep { $_ && $_->{type} ne 'ok'
                 && ($_->{code} // '') ne 'unavailable' } @r), 0,
    'each reply is ok or unavailable';
my $e = $c[0]->request({ type => 'send', room => $room, body => 'down' }, 20);
is $e && $e->{code}, 'unavailable', 'a send while PostgreSQL is down';

$pg->start;
my ($ok, $deadline) = (undef, time + 30);
while (time < $deadline) {
    my $x = $c[0]->request({ type => 'send', room => $room, body => 'back',
                             client_msg_id => 'back-1' }, 10);
    if ($x && $x->{type} eq 'ok') { $ok = $x; last }
    last if $x && ($x->{code} // '') ne 'unavailable';
    ChatTest::run_loop(sub { 0 }, 0.2);    # pace the retries
}
ok $ok, 'a send succeeds once PostgreSQL is back';

is_deeply [$ng->crashes], [], 'no worker crashed';
$ng->stop;
done_testing;
