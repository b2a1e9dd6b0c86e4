# Receipts with a state (protocol.md sections 4 and 5): read with state
# "read" (the default) or "delivered", over WebSocket and REST, on two
# nginx instances.  A read moves the delivered cursor to at least the same
# seq; "delivered" moves the delivered cursor alone; no cursor moves back,
# and a read that moves nothing sends no receipt.  Every joined connection,
# on either host, gets each receipt with its state.  Unread counts are
# last_seq - read_seq.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my @ng = map { start_nginx(workers => 2, listen => 'reuseport') } 1 .. 2;
my ($A, $B) = @ng;
my $pg = ChatTest::backends()->{conninfo};
my $room = rand_room('receipts');
my $tag = 'rc' . $$;
my ($alice, $bob) = ("${tag}a", "${tag}b");

my $a1 = login($A, $alice);
my $a2 = login($B, $alice);     # her second tab, on the other host
my $b1 = login($B, $bob);
for ([$a1, 'alice on A'], [$a2, 'alice on B'], [$b1, 'bob on B']) {
    my $r = $_->[0]->request({ type => 'join', room => $room });
    is $r && $r->{type}, 'ok', "$_->[1] joins";
}
for my $i (1 .. 6) {
    my $r = $b1->request({ type => 'send', room => $room, body => "m$i" });
    is $r && $r->{seq}, $i, "bob sends $i";
}

sub cursors {
    my $row = psql($pg, "select read_seq, delivered_seq from members where"
                      . " room_id = '$room' and user_id = '$alice'");
    return [split /\|/, $row];
}

# the next receipt on every joined connection
sub receipt_is {
    my ($seq, $state, $name) = @_;
    for ([$a1, 'alice on A'], [$a2, 'alice on B'], [$b1, 'bob on B']) {
        my $r = $_->[0]->wait_for(sub { ($_->{type} // '') eq 'receipt' }, 5);
        is_deeply $r, { type => 'receipt', room => $room, user => $alice,
                        seq => $seq, state => $state },
            "$name: $_->[1] gets it" or diag explain $r;
    }
}

sub read_ws {
    my ($c, %a) = @_;
    return $c->request({ type => 'read', room => $room, %a });
}

sub read_rest {
    my ($ng, %a) = @_;
    return api($ng, POST => "/rooms/$room/read", user => $alice,
               json => { %a });
}

my $r = read_ws($a1, seq => 3, state => 'delivered');
is $r && $r->{type}, 'ok', 'delivered 3 over WebSocket: ok';
receipt_is(3, 'delivered', 'delivered 3');
is_deeply cursors(), [0, 3], 'the delivered cursor is 3, read 0';

$r = read_ws($a1, seq => 2);
is $r && $r->{type}, 'ok', 'read 2 (no state: read)';
receipt_is(2, 'read', 'read 2');
is_deeply cursors(), [2, 3], 'read 2, delivered stays 3';

# nothing moves back; nothing that does not move sends a receipt
$r = read_ws($a2, seq => 1, state => 'delivered');
is $r && $r->{type}, 'ok', 'delivered 1, below the cursor: ok';
$r = read_ws($a2, seq => 1, state => 'read');
is $r && $r->{type}, 'ok', 'read 1, below the cursor: ok';
is_deeply cursors(), [2, 3], '... neither cursor moved back';

$r = read_rest($B, seq => 4);
is $r->{status}, 204, 'REST read 4 on host B: 204';
receipt_is(4, 'read', 'REST read 4 (nothing for the reads that moved nothing)');
is_deeply cursors(), [4, 4], 'a read moves the delivered cursor along';

$r = read_rest($A, seq => 6, state => 'delivered');
is $r->{status}, 204, 'REST delivered 6 on host A: 204';
receipt_is(6, 'delivered', 'REST delivered 6');
is_deeply cursors(), [4, 6], 'delivered 6, read stays 4';

$r = read_rest($A, seq => 5, state => 'read');
is $r->{status}, 204, 'REST read 5 with state read: 204';
receipt_is(5, 'read', 'REST read 5');
is_deeply cursors(), [5, 6], 'read 5 leaves delivered at 6';

# unread: last_seq - read_seq, whatever was delivered
my $rooms = api($A, GET => "/rooms/$room", user => $alice);
is $rooms->{json}{unread}, 1, 'GET /rooms/{room}: unread is 6 - 5';
is $rooms->{json}{read_seq}, 5, '... read_seq 5';

# bad states
$r = read_ws($a1, seq => 6, state => 'seen');
is $r && $r->{code}, 'bad_request', 'state seen: bad_request';
is_api_error(read_rest($A, seq => 6, state => 'READ'), 400, 'bad_request',
             'REST state READ: 400');
is_api_error(read_rest($A, seq => 6, state => \1), 400, 'bad_request',
             'REST state true: 400');
is_deeply cursors(), [5, 6], 'bad reads moved nothing';

close_all($a1, $a2, $b1);
is_deeply [map { $_->crashes } @ng], [], 'no worker crashed';
$_->stop for @ng;
done_testing;
