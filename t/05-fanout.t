# Protocol section 5: every joined connection receives every message of the
# room exactly once, in seq order, across workers and nginx instances.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $A = start_nginx(workers => 2, listen => 'reuseport');
my $B = start_nginx(workers => 2, listen => 'reuseport');

# ---- one room over two workers of one nginx
{
    my $room = rand_room('two-workers');
    my @rcv = map { login($A, "u$_") } 1 .. 20;
    my @j = map { $_->pipeline([{ type => 'join', room => $room }]) } @rcv;
    is scalar(grep { $_ && $_->{type} eq 'ok' } @j), 20, '20 connections joined';
    my $w = {};         # connections by the worker holding them
    $w->{$_}++ for grep { defined } worker_of($A, @rcv);
    my %workers = map { $_ => 1 } $A->worker_pids;
    my @used = grep { $workers{$_} } keys %$w;
    SKIP: {
        skip 'ss shows no process owners', 1 unless %$w;
        is scalar(@used), 2, 'the connections are spread over both workers'
            or diag explain $w;
    }
    my $s = login($A, 'sender');
    my @ok = $s->pipeline([map { { type => 'send', room => $room,
                                   body => "m$_" } } 1 .. 30]);
    is_deeply [map { $_ && $_->{seq} } @ok], [1 .. 30], 'acked 1..30 in order';
    my $all = 1;
    for my $i (0 .. $#rcv) {
        my @m = $rcv[$i]->wait_messages($room, 30, 10);
        my $good = is_deeply([map { $_->{seq} } @m], [1 .. 30],
            "receiver $i: seq 1..30 exactly once, in order");
        $all &&= $good;
    }
    $_->close for @rcv, $s;
}

# ---- many senders over both workers of two nginx instances
{
    my $room = rand_room('fanout');
    my @rcv = ((map { login($A, "ra$_") } 1 .. 6),
               (map { login($B, "rb$_") } 1 .. 6));
    for (@rcv) {
        my $j = $_->request({ type => 'join', room => $room });
        die "join failed" unless $j && $j->{type} eq 'ok';
    }
    my @snd = map { login($_ % 2 ? $A : $B, "s$_") } 0 .. 7;
    my $per = 50;
    my $total = @snd * $per;
    # all senders pipeline all their sends at once
    my @ids;
    for my $i (0 .. $#snd) {
        for my $k (1 .. $per) {
            my $id = "s$i-$k";
            push @{ $ids[$i] }, $id;
            $snd[$i]->send_json({ type => 'send', room => $room, id => $id,
                                  body => "s$i-$k", client_msg_id => $id });
        }
    }
    my (%seq_of, @errors);
    for my $i (0 .. $#snd) {
        my @r = $snd[$i]->collect_replies($ids[$i], 20);
        my @seqs = map { $_ && $_->{type} eq 'ok' ? $_->{seq} : () } @r;
        push @errors, grep { !$_ || $_->{type} ne 'ok' } @r;
        is scalar(@seqs), $per, "sender $i: $per oks";
        is_deeply [@seqs], [sort { $a <=> $b } @seqs],
            "sender $i: committed in the order sent";
        $seq_of{"s$i-$_"} = $r[$_ - 1] && $r[$_ - 1]{seq} for 1 .. $per;
    }
    is scalar(@errors), 0, 'no errors' or diag explain [@errors[0 .. 4]];
    is_deeply [sort { $a <=> $b } values %seq_of], [1 .. $total],
        "the acks cover seq 1..$total";
    for my $i (0 .. $#rcv) {
        my @m = $rcv[$i]->wait_messages($room, $total, 30);
        my $name = ($i < 6 ? 'A' : 'B') . " receiver $i";
        is_deeply [map { $_->{seq} } @m], [1 .. $total],
            "$name: seq 1..$total exactly once, in order";
        my $bad = grep { ($seq_of{ $_->{body} } // -1) != $_->{seq} } @m;
        is $bad, 0, "$name: each body has the seq its sender was told";
    }
    $_->close for @rcv, @snd;
}

$A->stop;
$B->stop;
done_testing;
