# Redis restarted mid-stream: delivery resumes, every receiver sees every
# seq exactly once and in order (gaps filled from PostgreSQL); /health
# shows redis down, then up.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use ChatTest;

my $redis = start_redis();
my @ng = map { start_nginx(workers => 2, listen => 'reuseport',
                           redis => $redis->addr) } 1 .. 2;
my $health = $ng[0]->api_url . '/health';
my $room = rand_room('redis');

sub health_until {
    my ($want, $timeout) = @_;
    my $h;
    wait_until(sub {
        $h = http_get($health, timeout => 2);
        ($h->{json}{redis} // '') eq $want;
    }, $timeout, 0.1);
    return $h;
}

# right after start the workers may still be connecting
my $h;
wait_until(sub { $h = http_get($health); $h->{status} == 200 }, 10, 0.05);
is $h->{status}, 200, 'health 200 before';
is $h->{json}{redis}, 'up', 'redis up before';

my @rcv = map { my $n = $_; map { login($ng[$n], "r$n$_") } 1 .. 3 } 0 .. 1;
for (@rcv) {
    my $j = $_->request({ type => 'join', room => $room });
    die 'join failed' unless $j && $j->{type} eq 'ok';
}
my @snd = map { login($ng[$_], "s$_") } 0 .. 1;

my %acked;     # client_msg_id -> seq
my %pending;   # client_msg_id -> body, sends still to be acked
my $k = 0;

# sends $n messages from each sender (pipelined); records oks, keeps the
# others (unavailable) pending for a retry with the same client_msg_id
sub burst {
    my ($n, $timeout) = @_;
    my @sent;
    for my $i (0 .. $#snd) {
        my @ids;
        for (1 .. $n) {
            my $cid = "m" . ++$k;
            $pending{$cid} = [$i, "body $cid"];
            push @ids, $cid;
            $snd[$i]->send_json({ type => 'send', room => $room, id => $cid,
                                  client_msg_id => $cid, body => "body $cid" });
        }
        push @sent, [$i, \@ids];
    }
    return @sent;
}

sub collect {
    my ($sent, $timeout) = @_;
    my @bad;
    for my $s (@$sent) {
        my ($i, $ids) = @$s;
        for my $r ($snd[$i]->collect_replies($ids, $timeout)) {
            next unless $r;
            if ($r->{type} eq 'ok') {
                $acked{ $r->{id} } = $r->{seq};
                delete $pending{ $r->{id} };
            } elsif (($r->{code} // '') ne 'unavailable') {
                push @bad, $r;
            }
        }
    }
    return @bad;
}

my @bad = collect([burst(15)], 10);
is scalar(keys %acked), 30, 'before the restart: 30 acked';

# mid-stream: a burst in flight, then Redis goes away
my @sent = burst(15);
my $third = $sent[0][1][2];    # wait until the burst is being answered
ChatTest::run_loop(sub {
    grep { ($_->{id} // '') eq $third } @{ $snd[0]->queue }
}, 5);
$redis->stop;
push @bad, collect(\@sent, 10);
$h = health_until('down', 10);
is $h->{status}, 503, 'health 503 while redis is down';
is $h->{json}{redis}, 'down', 'health: redis down';
is $h->{json}{postgres}, 'up', 'health: postgres up';
ok exists $h->{json}{status}, 'health: status field';

# while it is down
push @bad, collect([burst(5)], 10);

$redis->start;
$h = health_until('up', 20);
is $h->{status}, 200, 'health 200 after the restart';
is $h->{json}{redis}, 'up', 'health: redis up again';

# retry what was not acked, with the same client_msg_id, until acked
my $deadline = time + 20;
while (%pending && time < $deadline) {
    my @s;
    for my $cid (sort keys %pending) {
        my ($i, $body) = @{ $pending{$cid} };
        $snd[$i]->send_json({ type => 'send', room => $room, id => $cid,
                              client_msg_id => $cid, body => $body });
        push @s, [$i, [$cid]];
    }
    push @bad, collect(\@s, 10);
}
is scalar(keys %pending), 0, 'every send acked in the end';

# more traffic after the restart
push @bad, collect([burst(15)], 10);
is scalar(@bad), 0, 'only ok or unavailable replies' or diag explain \@bad;

my $total = keys %acked;
is_deeply [sort { $a <=> $b } values %acked], [1 .. $total],
    "acked seqs are 1..$total (no duplicate for the retries)";
my %body_of = map { $acked{$_} => "body $_" } keys %acked;
for my $i (0 .. $#rcv) {
    my @m = $rcv[$i]->wait_messages($room, $total, 20);
    is_deeply [map { $_->{seq} } @m], [1 .. $total],
        "receiver $i (nginx " . int($i / 3) . "): 1..$total exactly once, in order";
    is scalar(grep { $_->{body} ne ($body_of{ $_->{seq} } // '') } @m), 0,
        "receiver $i: bodies match";
}

$_->stop for @ng;
done_testing;
