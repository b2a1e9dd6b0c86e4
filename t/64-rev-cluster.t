# Room revisions across workers and hosts (protocol.md section 5a): two
# nginx instances of two workers each, on the same Redis and PostgreSQL,
# take sends to one room from several connections at once.  Receivers on
# both leave and rejoin with since_rev (on the same connection, or on a
# new one on the other instance) while the sends go on.  Every receiver
# ends with an exact copy of the room as PostgreSQL holds it: every rev
# once, in order, no gap, each event the message stored with that rev.
# The ten users join first: their joined member events take revs 1 to 10.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my @ng = map { start_nginx(workers => 2, listen => 'reuseport') } 1 .. 2;
my $room = rand_room('cluster');
my $pg = ChatTest::backends()->{conninfo};

my $ROUNDS = 25;
my @senders = map { login($ng[$_ % 2], "s$_") } 0 .. 3;

# a receiver: its connection, its instance, and every event it got
my @rcv = map { { n => $_, on => $_ % 2, got => [] } } 0 .. 5;

sub absorb {
    my ($r) = @_;
    push @{ $r->{got} }, $r->{c}->take_messages($room);
}

sub last_rev {
    my ($r) = @_;
    return @{ $r->{got} } ? $r->{got}[-1]{rev} : 0;
}

sub join_since_rev {
    my ($r) = @_;
    my $id = next_id();
    my %a = $r->{joins} ? (since_rev => last_rev($r)) : ();
    $r->{c}->send_json({ type => 'join', room => $room, id => $id, %a });
    my @f = $r->{c}->recv_until(sub { ($_->{id} // '') eq $id }, 15);
    my $reply = $r->{c}{last_until_ok} ? pop @f : undef;
    die "join failed: " . explain($reply) unless $reply
        && $reply->{type} eq 'ok';
    push @{ $r->{got} }, grep { ($_->{type} // '') eq 'message' } @f;
    $r->{joins}++;
}

for my $r (@rcv) {
    $r->{c} = login($ng[$r->{on}], "r$r->{n}");
    join_since_rev($r);
}
for my $sc (@senders) {
    my $j = $sc->request({ type => 'join', room => $room }, 10);
    die 'sender join failed' unless $j && $j->{type} eq 'ok';
}
my $base = 10;
is psql($pg, "select last_rev from rooms where id = '$room'"), $base,
    "$base users joined: $base member events";

my @ids;
for my $round (1 .. $ROUNDS) {
    # every sender sends, without waiting for the answers
    for my $k (0 .. $#senders) {
        my $id = next_id();
        push @{ $ids[$k] }, $id;
        $senders[$k]->send_json({ type => 'send', room => $room,
                                  id => $id, body => "r$round-s$k" });
    }

    # meanwhile two receivers go and come back
    my $r = $rcv[$round % @rcv];
    absorb($r);
    if ($round % 2) {
        my $ok = $r->{c}->request({ type => 'leave', room => $room }, 10);
        die 'leave failed' unless $ok && $ok->{type} eq 'ok';
        absorb($r);
    } else {
        $r->{c}->close;
        $r->{on} = 1 - $r->{on};
        $r->{c} = login($ng[$r->{on}], "r$r->{n}");
    }
    join_since_rev($r);
    absorb($_) for @rcv;
}

my @acks;
for my $k (0 .. $#senders) {
    my @a = $senders[$k]->collect_replies($ids[$k], 15);
    is scalar(grep { $_ && $_->{type} eq 'ok' } @a), $ROUNDS,
        "sender $k: every send acknowledged";
    my @r = map { $_->{rev} } @a;
    is_deeply \@r, [sort { $a <=> $b } @r],
        "sender $k: its sends took increasing revs";
    push @acks, @a;
}
my $n = $ROUNDS * @senders;
is_deeply [sort { $a <=> $b } map { $_->{rev} } @acks],
    [$base + 1 .. $base + $n],
    "the acknowledged sends took rev $base + 1 to $base + $n, each once";

# what PostgreSQL holds: every rev once, in commit order (seq order)
my @rows = map { [split /\|/, $_, 4] } split /\n/, psql($pg,
    "select rev, seq, msg_id, body from messages where room_id = '$room'"
    . " order by rev");
is_deeply [map { $_->[0] } @rows], [$base + 1 .. $base + $n],
    "stored: rev $base + 1 to $base + $n";
is_deeply [map { $_->[1] } @rows], [1 .. $n], 'rev order is seq order';
my $want = join "\n", map { join ' ', @$_ } @rows;

# every receiver ends with the room as stored
for my $r (@rcv) {
    ChatTest::run_loop(sub {
        grep { ($_->{type} // '') eq 'message'
               && ($_->{rev} // 0) == $base + $n } @{ $r->{c}->queue }
    }, 15) if last_rev($r) < $base + $n;
    $r->{c}->settle(0.3);
    absorb($r);
    my $got = join "\n", map { join ' ', $_->{rev}, $_->{seq}, $_->{msg_id},
                                         $_->{body} } @{ $r->{got} };
    is $got, $want, "receiver $r->{n} ($r->{joins} joins): an exact copy"
        . " of the room";
}

is_deeply [map { $_->crashes } @ng], [], 'no worker crashed';
$_->stop for @ng;
done_testing;
