# One connection floods requests as fast as it can, pipelining thousands
# without waiting, while another user sends: what the flood gets is what
# its budget allows, and the other user is served.  History requests are
# held back by the default chat_request_rate (rate_limited, nothing more
# answered than burst + rate); sends by their own budget, flow control
# (every send answered once committed, each stored once).  Bob's sends
# are all acknowledged, in order, and stored.
#
# This file checks behaviour only.  How long bob's acks take during the
# floods (the latency at rest and under each flood) is a figure of the
# benchmark: `make abuse` (bench/abuse).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Select;
use POSIX ();
use Time::HiRes qw(time);
use ChatTest;

my $tag = "fl$$" . int(rand 1e6);
my $conninfo = backends()->{conninfo};

# one worker: the flood and the other user share everything
my $ng = start_nginx(workers => 1);

my $room = rand_room('flood');
my $bob = login($ng, "${tag}bob");
is $bob->request({ type => 'join', room => $room })->{type}, 'ok',
    'bob joins a room';
my $bob_sent = 0;

# bob's sends, one at a time: all acknowledged, their seqs increasing
sub bob_sends {
    my ($n, $what) = @_;
    my @seq;
    for (1 .. $n) {
        my $r = $bob->request({ type => 'send', room => $room,
                                body => "bob $what $_" }, 20);
        last unless $r && $r->{type} eq 'ok';
        push @seq, $r->{seq};
    }
    $bob_sent += @seq;
    is scalar(@seq), $n, "$what: bob's $n sends acknowledged";
    is_deeply \@seq, [sort { $a <=> $b } @seq], "$what: in order";
}

# Floods from a process of its own that writes $frame's requests without
# waiting and reads (and counts) whatever comes back, while bob sends.
# Stopped, it finishes the frame it is writing and reads the answers until
# none comes for a second (with $all: until every frame written has its
# answer), or for $drain seconds (60) at most.  Returns its counts: frames (whole, written),
# ok, served (answers but rate_limited) and limited, secs (from its first write to its last read).
sub flood {
    my ($what, $frame, $drain, $all) = @_;

    pipe(my $rd, my $wr) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $rd;
        my $stop = 0;
        $SIG{TERM} = sub { $stop = 1 };
        my $raw = raw_connect($ng->port, '/chat/ws',
            { Authorization => 'Bearer ' . token(sub => "${tag}eve") });
        $raw->read_json(5);     # welcome
        my @f = map { ChatTest::Raw::frame_bytes(1, $frame->($_)) }
                    1 .. 1000;
        my ($chunk, @ends) = ('');
        for (@f) { $chunk .= $_; push @ends, length $chunk }
        my $s = $raw->sock;
        $s->blocking(0);
        my $sel = IO::Select->new($s);
        my ($off, $base, $frames, $ok, $err, $limited, $started) = (0) x 7;
        my ($tail, $t0, $quiet, $stopped) = ('', time, undef, undef);
        while (1) {
            # stopped: only the rest of the frame being written, then reads
            my $upto = length $chunk;
            if ($stop) {
                my ($next) = grep { $_ >= $off } @ends;
                $upto = $next;
                $quiet //= time + 1;
                $stopped //= time;
                my $answers = $ok + $err
                    + (() = $tail =~ /"type":"(?:ok|error)"/g);
                last if $all ? $answers >= $frames : time > $quiet;
                last if time > $stopped + ($drain // 60);
            }
            my $want_w = $off < $upto ? $sel : undef;
            my ($r, $w) = IO::Select->select($sel, $want_w, undef, 0.05);
            if ($w && @$w) {
                my $n = syswrite $s, $chunk, $upto - $off, $off;
                if ($n) {
                    $off += $n;
                    if ($off == length $chunk) {
                        $off = 0;
                        $base += 1000;
                    }
                }
            }
            if ($r && @$r) {
                my $n = sysread $s, my $d, 1 << 20;
                last if defined $n && $n == 0;
                if ($n) {
                    $quiet = time + 1 if $stop;
                    my $t = $tail . $d;
                    $ok += () = $t =~ /"type":"ok"/g;
                    $err += () = $t =~ /"type":"error"/g;
                    $limited += () = $t =~ /"rate_limited"/g;
                    $tail = substr $t, -20;
                    $ok -= () = $tail =~ /"type":"ok"/g;
                    $err -= () = $tail =~ /"type":"error"/g;
                    $limited -= () = $tail =~ /"rate_limited"/g;
                }
            }
            $frames = $base + grep { $_ <= $off } @ends;
            if (!$started && $frames >= 20000) {
                syswrite $wr, "started\n";
                $started = 1;
            }
        }
        # what the tail still holds
        $ok += () = $tail =~ /"type":"ok"/g;
        $err += () = $tail =~ /"type":"error"/g;
        $limited += () = $tail =~ /"rate_limited"/g;
        syswrite $wr, sprintf "frames=%d ok=%d served=%d limited=%d "
            . "secs=%.2f\n", $frames, $ok, $ok + $err - $limited, $limited,
            time - $t0;
        POSIX::_exit(0);
    }
    close $wr;
    my $line = <$rd>;
    is $line, "started\n", "$what: the flooder has written 20 000 requests";

    bob_sends(150, $what);
    kill 'TERM', $pid;
    # bob's client answers the server's pings while the flooder drains
    my $sel = IO::Select->new($rd);
    run_loop(sub { 0 }, 0.2) until $sel->can_read(0);
    my $report = <$rd> // '';
    waitpid $pid, 0;
    chomp $report;
    diag "$what: flooder $report";
    my %c = $report =~ /(\w+)=([\d.]+)/g;
    ok $c{frames} && $c{frames} >= 20000, "$what: the flood went on while "
        . 'bob sent';
    return \%c;
}

# history: the default budget, 20r/s burst=200, answers burst + 1 at
# once and one per 50 ms after; requests past it get rate_limited, 64 a
# second at most: then the connection is not read until the second is
# over, so most of the flood waits in its socket, unanswered (its answers
# are read for 3 s after the stop)
my $c = flood('history flood', sub {
    qq({"type":"history","id":$_[0],"room":"$room","limit":50}) }, 3);
my $allowed = 201 + 20 * ($c->{secs} + 1);
cmp_ok $c->{served}, '>', 0, 'history flood: some requests answered';
cmp_ok $c->{served}, '<=', $allowed,
    "history flood: no more answered than the budget ($allowed)";
cmp_ok $c->{limited}, '>', 0, 'history flood: the rest refused as '
    . 'rate_limited';
my $refusals = 64 * (int($c->{secs}) + 2);
cmp_ok $c->{limited}, '<=', $refusals,
    "history flood: at most 64 refusals a second ($refusals in "
    . "$c->{secs} s), not one per request written ($c->{frames})";

# sends: every one written is read once the store takes it (flow control:
# 256 wait for their commit), each stored exactly once, and nothing else
my $elsewhere = rand_room('flood-sends');
$c = flood('send flood', sub {
    qq({"type":"send","id":$_[0],"room":"$elsewhere","body":"flood $_[0]"})
}, 60, 'all');
my ($stored, $top) = split /\|/, psql($conninfo,
    "select count(*), coalesce(max(seq), 0) from messages "
    . "where room_id = '$elsewhere'");
diag "send flood: $stored stored";
is $stored, $c->{ok}, 'send flood: every acknowledged send stored, no other';
is $top, $stored, 'send flood: seqs 1 .. n, no gap';
is $c->{ok}, $c->{frames}, 'send flood: every send written answered';
is $c->{served}, $c->{ok}, 'send flood: every answer an ok';
is $c->{limited}, 0, 'send flood: no send refused (the test sets no user '
    . 'send rate)';

# bob's room holds bob's messages only, each once
is psql($conninfo, "select count(*) || ' ' || count(distinct body) || ' '"
        . " || count(*) filter (where sender <> '${tag}bob') from messages"
        . " where room_id = '$room'"), "$bob_sent $bob_sent 0",
    'bob\'s room: his sends, each stored once, nothing of the floods';
is $bob->request({ type => 'ping' })->{type}, 'pong', 'bob: still served';

$ng->stop;
done_testing;
