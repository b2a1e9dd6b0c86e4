# Reconnecting (protocol.md section 4, join with since; docs/protocol.md
# "Replay cap" and "history"): a client that vanishes mid-stream while
# others keep sending rejoins with since = the last seq it saw and gets
# every missed message, then the live ones, with no gap and no duplicate;
# beyond chat_join_replay_max, history fills the rest exactly.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use List::Util qw(max);
use Mojo::JSON qw(decode_json);
use ChatTest;

# Two senders on their own connections, each sending its next message as
# soon as the previous one is acked, for as long as $run->{on} is true.
sub start_senders {
    my ($ng, $room) = @_;
    my $run = { on => 1, acked => {}, errors => [] };
    for my $i (1 .. 2) {
        my $s = login($ng, "sender$i");
        my $k = 0;
        my $next;
        $next = sub {
            return unless $run->{on};
            $k++;
            $s->{pending} = "s$i-$k";
            $s->send_json({ type => 'send', room => $room,
                            body => "s$i-$k", id => "s$i-$k" });
        };
        $s->tx->on(text => sub {
            my $m = eval { decode_json($_[1]) } or return;
            return unless ($m->{id} // '') eq ($s->{pending} // '');
            if ($m->{type} eq 'ok') {
                $run->{acked}{ $m->{seq} } = $m->{id};
            } else {
                push @{ $run->{errors} }, $m;
            }
            $s->{pending} = undef;
            @{ $s->queue } = ();
            $next->();
        });
        push @{ $run->{senders} }, $s;
        $run->{start}[$i - 1] = $next;
    }
    $_->() for @{ $run->{start} };
    return $run;
}

sub stop_senders {
    my $run = shift;
    $run->{on} = 0;
    ok ChatTest::run_loop(sub {
        !grep { defined $_->{pending} } @{ $run->{senders} } }, 10),
        'the senders stopped';
    is scalar(@{ $run->{errors} }), 0, 'no send failed'
        or diag explain $run->{errors};
    close_all(@{ $run->{senders} });
    my @seq = sort { $a <=> $b } keys %{ $run->{acked} };
    my $n = max(@seq) // 0;
    is_deeply \@seq, [1 .. $n], "the senders' messages are seq 1..$n";
    return $n;
}

sub count_msgs {
    my ($c, $room) = @_;
    scalar grep { ($_->{type} // '') eq 'message' && $_->{room} eq $room }
        @{ $c->queue };
}

# A reader joins, sees at least $see messages, vanishes; reconnects once
# the senders are at least $gap messages further; joins with since.
sub drop_and_rejoin {
    my ($ng, $room, $see, $gap) = @_;
    my $r1 = login($ng, 'reader');
    my $j = $r1->request({ type => 'join', room => $room });
    is $j && $j->{seq}, 0, 'the reader joins the new room';
    my $run = start_senders($ng, $room);
    ok ChatTest::run_loop(sub { count_msgs($r1, $room) >= $see }, 10),
        "the reader got at least $see live messages";
    $r1->drop;
    ok $r1->{closed}, 'the reader vanished (TCP closed, no leave, no close '
        . 'frame)';
    my @seen = map { $_->{seq} } $r1->take_messages($room);
    my $last = $seen[-1];
    is_deeply \@seen, [1 .. $last], "it had seen 1..$last, in order";
    ok ChatTest::run_loop(sub {
        scalar(keys %{ $run->{acked} }) >= $last + $gap }, 15),
        "the senders went on past seq " . ($last + $gap);
    my $r2 = login($ng, 'reader');
    my $id = 'rejoin';
    $r2->send_json({ type => 'join', room => $room, since => $last,
                     id => $id });
    my @f = $r2->recv_until(sub { ($_->{id} // '') eq $id }, 10);
    my $reply = $r2->{last_until_ok} ? pop @f : undef;
    is $reply && $reply->{type}, 'ok', "rejoin with since $last: ok"
        or diag explain $reply;
    my @other = grep { ($_->{type} // '') ne 'message' } @f;
    is scalar(@other), 0, 'only message events before the reply'
        or diag explain \@other;
    my @replayed = grep { ($_->{type} // '') eq 'message' } @f;
    return ($run, $r2, $last, $reply, \@replayed);
}

# ---- the gap within the replay cap
{
    my $ng = start_nginx(workers => 2, listen => 'reuseport');
    my $room = rand_room('reconnect');
    my ($run, $r2, $since, $reply, $replayed) =
        drop_and_rejoin($ng, $room, 40, 60);
    my $rs = $reply ? $reply->{seq} : 0;
    ok !$reply->{truncated}, 'not truncated';
    cmp_ok $rs, '>=', $since + 60, "reply seq $rs: the gap is at least 60";
    my @rp = map { $_->{seq} } @$replayed;
    is_deeply \@rp, [$since + 1 .. $rs],
        'the replay is exactly the missed messages up to the reply seq';
    ok ChatTest::run_loop(sub { count_msgs($r2, $room) >= 30 }, 10),
        'then live messages while the senders go on';
    my $n = stop_senders($run);
    my @live = $r2->wait_messages($room, $n - $rs, 10);
    my @ls = map { $_->{seq} } @live;
    ok !grep({ $_ <= $rs } @ls), 'live events all after the reply seq';
    is_deeply [@rp, @ls], [$since + 1 .. $n],
        "replay + live = " . ($since + 1) . "..$n: no gap, no duplicate";
    my @body = map { $_->{body} } @$replayed, @live;
    is_deeply \@body, [map { $run->{acked}{$_} } $since + 1 .. $n],
        'each message is the one acked with that seq';
    is $r2->request({ type => 'ping' })->{type}, 'pong', 'round trip';
    $r2->settle(0.2);
    is scalar($r2->take_messages($room)), 0, 'nothing more';
    close_all($r2);
    $ng->stop;
}

# ---- a gap larger than the replay cap
{
    my $ng = start_nginx(workers => 2, listen => 'reuseport',
                         loc => 'chat_join_replay_max 20;');
    my $room = rand_room('reconnect-cap');
    my ($run, $r2, $since, $reply, $replayed) =
        drop_and_rejoin($ng, $room, 10, 80);
    my $rs = $reply ? $reply->{seq} : 0;
    ok $reply && ref($reply->{truncated}) =~ /Boolean/ && $reply->{truncated},
        'the reply says truncated: true' or diag explain $reply;
    cmp_ok $rs, '>=', $since + 80, "reply seq $rs: the gap is at least 80";
    my @rp = map { $_->{seq} } @$replayed;
    is_deeply \@rp, [$rs - 19 .. $rs],
        'the replay is the newest 20 up to the reply seq';

    # the rest from history: after = since, before = the first replayed
    my (@hist, @more);
    my $after = $since;
    for (1 .. 50) {
        my $h = $r2->request({ type => 'history', room => $room,
                               after => $after, before => $rp[0],
                               limit => 25 }, 10);
        last unless $h && $h->{type} eq 'ok';
        my @m = @{ $h->{messages} };
        push @hist, @m;
        push @more, $h->{has_more} ? 1 : 0;
        last unless $h->{has_more} && @m;
        $after = $m[-1]{seq};
    }
    my @hs = map { $_->{seq} } @hist;
    is_deeply \@hs, [$since + 1 .. $rp[0] - 1],
        'history pages fill exactly ' . ($since + 1) . '..' . ($rp[0] - 1);
    is_deeply \@more, [(1) x $#more, 0],
        'has_more true on every page but the last ('
        . scalar(@more) . ' pages)';
    cmp_ok scalar(@more), '>=', 3, 'several pages';

    ok ChatTest::run_loop(sub { count_msgs($r2, $room) >= 20 }, 10),
        'then live messages while the senders go on';
    my $n = stop_senders($run);
    my @live = $r2->wait_messages($room, $n - $rs, 10);
    my @ls = map { $_->{seq} } @live;
    is_deeply [@hs, @rp, @ls], [$since + 1 .. $n],
        'history + replay + live = ' . ($since + 1) . "..$n";
    is_deeply [map { $_->{body} } @hist, @$replayed, @live],
        [map { $run->{acked}{$_} } $since + 1 .. $n], 'the right messages';
    $r2->settle(0.2);
    is scalar($r2->take_messages($room)), 0, 'nothing more';
    close_all($r2);
    $ng->stop;
}

done_testing;
