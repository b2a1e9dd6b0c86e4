# Protocol section 4, join with since: replay, then the reply, then live
# events, with no gap and no duplicate; the replay cap.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $ng = start_nginx(workers => 2, listen => 'reuseport', server => q{
        location /chat/ws-r10 {
            chat_ws;
            chat_join_replay_max 10;
        }});
my $url10 = 'ws://127.0.0.1:' . $ng->port . '/chat/ws-r10';

my $s = login($ng, 'sender');

sub send_n {
    my ($room, $n, $tag) = @_;
    my @r = $s->pipeline([map { { type => 'send', room => $room,
                                  body => "$tag$_" } } 1 .. $n], 10);
    die "send failed" if grep { !$_ || $_->{type} ne 'ok' } @r;
    return @r;
}

# join with since on $c; returns (replayed messages, reply, other frames)
sub join_since {
    my ($c, $room, $since) = @_;
    my $id = next_id();
    $c->send_json({ type => 'join', room => $room, id => $id,
                    defined $since ? (since => $since) : () });
    my @f = $c->recv_until(sub { ($_->{id} // '') eq $id }, 10);
    my $reply = $c->{last_until_ok} ? pop @f : undef;
    my @msgs = grep { ($_->{type} // '') eq 'message' } @f;
    my @other = grep { ($_->{type} // '') ne 'message' } @f;
    return (\@msgs, $reply, \@other);
}

# ---- basic replay
{
    my $room = rand_room('since');
    my @acks = send_n($room, 5, 'b');
    my $c = login($ng, 'joiner');
    my ($msgs, $reply, $other) = join_since($c, $room, 2);
    is $reply && $reply->{type}, 'ok', 'join since 2: ok';
    is $reply && $reply->{seq}, 5, 'reply seq is the latest';
    is $reply && $reply->{room}, $room, 'reply room';
    is_deeply [map { $_->{seq} } @$msgs], [3, 4, 5],
        'messages 3..5 replayed before the reply, in order';
    is_deeply [map { $_->{body} } @$msgs], [qw(b3 b4 b5)], 'bodies';
    is_deeply [map { $_->{msg_id} } @$msgs], [map { $_->{msg_id} } @acks[2 .. 4]],
        'msg_ids as acked';
    is_deeply [map { $_->{ts} } @$msgs], [map { $_->{ts} } @acks[2 .. 4]], 'ts';
    ok !grep({ ($_->{from} // '') ne 'sender' } @$msgs), 'from';
    ok !grep({ $_->{room} ne $room } @$msgs), 'room';
    is scalar(@$other), 0, 'nothing else before the reply';
    send_n($room, 1, 'live');
    my @live = $c->wait_messages($room, 1, 5);
    is_deeply [map { $_->{seq} } @live], [6], 'then live: seq 6';
    $c->settle(0.2);
    is scalar($c->take_messages($room)), 0, 'no duplicate';

    my $d = login($ng, 'joiner');
    ($msgs, $reply) = join_since($d, $room, 6);
    is scalar(@$msgs), 0, 'since = latest: no replay';
    is $reply && $reply->{seq}, 6, 'reply seq 6';
    ($msgs, $reply) = join_since(login($ng, 'joiner'), $room, 0);
    is_deeply [map { $_->{seq} } @$msgs], [1 .. 6], 'since 0: everything';
    ($msgs, $reply) = join_since(login($ng, 'joiner'), $room);
    is scalar(@$msgs), 0, 'no since: no replay';
    is $reply && $reply->{seq}, 6, 'no since: reply seq 6';
    ($msgs, $reply) = join_since(login($ng, 'joiner'), rand_room('empty'), 0);
    is scalar(@$msgs), 0, 'since 0 in a new room: no replay';
    is $reply && $reply->{seq}, 0, 'new room: seq 0';
}

# ---- join since while another client keeps sending
{
    my $room = rand_room('race');
    send_n($room, 20, 'pre');
    my $n = 120;
    my @ids = map { "r$_" } 1 .. $n;
    $s->send_json({ type => 'send', room => $room, body => "race$_",
                    id => "r$_" }) for 1 .. $n;
    my @joiners;
    for my $at (5, 40, 80) {
        # wait until the stream is at ack $at, then join since an older seq
        my $ack = $s->wait_for(sub { ($_->{id} // '') eq "r$at" }, 10);
        unshift @{ $s->queue }, $ack if $ack;
        my $c = login($ng, "j$at");
        my $since = 10 + $at / 5;
        my $id = "join-$at";
        $c->send_json({ type => 'join', room => $room, since => $since,
                        id => $id });
        push @joiners, [$c, $since, $id, $at];
    }
    my @acks = $s->collect_replies(\@ids, 20);
    is scalar(grep { $_ && $_->{type} eq 'ok' } @acks), $n, "$n sends acked";
    my $last = 20 + $n;
    for my $j (@joiners) {
        my ($c, $since, $id, $at) = @$j;
        my @f = $c->recv_until(sub { ($_->{id} // '') eq $id }, 10);
        my $reply = $c->{last_until_ok} ? pop @f : undef;
        ok $reply && $reply->{type} eq 'ok', "joiner at $at: ok";
        my @before = map { $_->{seq} } grep { $_->{type} eq 'message' } @f;
        my @after = map { $_->{seq} }
            $c->wait_messages($room, $last - ($reply ? $reply->{seq} : 0), 10);
        my $rs = $reply ? $reply->{seq} : -1;
        ok !grep({ $_ > $rs } @before),
            "joiner at $at: replayed seqs <= reply seq ($rs)";
        ok !grep({ $_ <= $rs } @after),
            "joiner at $at: live seqs > reply seq";
        is_deeply [@before, @after], [$since + 1 .. $last],
            "joiner at $at: since $since -> seq " . ($since + 1)
            . "..$last, no gap, no duplicate";
    }
}

# ---- replay cap (chat_join_replay_max 10)
{
    my $room = rand_room('cap');
    send_n($room, 30, 'c');
    my ($msgs, $reply) = join_since(login($url10, 'capped'), $room, 0);
    is scalar(@$msgs), 10, 'since 0 with 30 messages: 10 replayed';
    is $reply && $reply->{truncated}, 1, 'reply says truncated'
        or diag explain $reply;
    ok $reply && $reply->{truncated} eq '1'
        && ref($reply->{truncated}) =~ /Boolean/, 'truncated is JSON true';
    is $reply && $reply->{seq}, 30, 'reply seq is the latest';
    my @seq = map { $_->{seq} } @$msgs;
    ok @seq && $seq[0] >= 1 && $seq[-1] <= 30
        && "@seq" eq join(' ', $seq[0] .. $seq[0] + 9),
        "the replay is 10 consecutive messages in order (@seq)";

    ($msgs, $reply) = join_since(login($url10, 'capped'), $room, 20);
    is_deeply [map { $_->{seq} } @$msgs], [21 .. 30],
        'exactly chat_join_replay_max missed: all replayed';
    ok $reply && !$reply->{truncated}, '... and not truncated';
    ($msgs, $reply) = join_since(login($url10, 'capped'), $room, 25);
    is_deeply [map { $_->{seq} } @$msgs], [26 .. 30], 'since 25: 26..30';
    ok $reply && !$reply->{truncated}, 'not truncated';
}

$ng->stop;
done_testing;
