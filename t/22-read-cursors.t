# Read cursors and rooms (docs/protocol.md "read", "Access" and "REST"):
# WebSocket `read` and POST /rooms/{room}/read move the cursor forward
# only, receipts go to every joined connection once per move; GET /rooms,
# GET /rooms/{room} and POST /rooms.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use Mojo::JSON qw(true false);
use ChatTest;

# every WebSocket client, closed before nginx stops
my @open;
sub track { push @open, @_; return $_[0] }

my $ng = start_nginx(workers => 2, listen => 'reuseport');
my $tag = "rc$$" . int(rand 1e6);    # user names of this run only
my ($A, $B, $C) = map { "$tag$_" } qw(alice bob carol);
my $room = rand_room('cursor');

my $a1 = track login($ng, $A);
my $b1 = track login($ng, $B);
my $b2 = track login($ng, $B);
my $c1 = track login($ng, $C);
my @conns = ([alice => $a1], [bob1 => $b1], [bob2 => $b2], [carol => $c1]);
for (@conns) {
    is $_->[1]->request({ type => 'join', room => $room })->{type}, 'ok',
        "$_->[0] joins";
}
my @acks = $a1->pipeline([map { { type => 'send', room => $room,
                                  body => "m$_" } } 1 .. 10]);
is_deeply [map { $_ && $_->{seq} } @acks], [1 .. 10], 'alice sent 1..10';
$_->[1]->wait_messages($room, 10, 5) for @conns;

sub room_of {
    my ($user, $r) = @_;
    my $x = api($ng, GET => '/rooms/' . ($r // $room), user => $user);
    return $x->{status} == 200 ? $x->{json} : { status => $x->{status},
                                                body => $x->{body} };
}

sub cursor_is {
    my ($user, $read, $unread, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $j = room_of($user);
    is_deeply [map { $j->{$_} } qw(read_seq unread)], [$read, $unread],
        "$name: read_seq $read, unread $unread"
        or diag explain $j;
}

# the next receipt on every joined connection is {room, user, seq, state}
sub receipts_are {
    my ($user, $seq, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    for (@conns) {
        my ($who, $c) = @$_;
        my $r = $c->wait_for(sub { ($_->{type} // '') eq 'receipt' }, 5);
        is_deeply $r, { type => 'receipt', room => $room, user => $user,
                        seq => $seq, state => 'read' },
            "$name: $who gets the receipt"
            or diag explain $r;
    }
}

sub read_ws {
    my ($c, $seq, %o) = @_;
    my $id = 'read-' . next_id();
    my $r = $c->request({ type => 'read', room => $o{room} // $room,
                          seq => $seq, id => $id });
    return $r;
}

sub read_rest {
    my ($user, $seq, $r) = @_;
    return api($ng, POST => '/rooms/' . ($r // $room) . '/read', user => $user,
               json => { seq => $seq });
}

# ---- initial cursors
{
    my $j = room_of($B);
    is $j->{last_seq}, 10, 'GET /rooms/{room}: last_seq 10';
    cursor_is($B, 0, 10, 'bob joined, never read');
    cursor_is($A, 10, 0, 'alice only sent: her own messages are read');
    cursor_is($C, 0, 10, 'carol');
}

# ---- forward only, receipts once per move
{
    my $r = read_ws($b1, 5);
    ok $r && $r->{type} eq 'ok' && $r->{id} =~ /^read-/, 'WS read 5: ok';
    receipts_are($B, 5, 'read 5');
    cursor_is($B, 5, 5, 'after read 5');

    $r = read_ws($b2, 3);
    is $r && $r->{type}, 'ok', 'WS read 3 (back): ok';
    cursor_is($B, 5, 5, 'read 3 does not move it back');
    my $x = read_rest($B, 7);
    is $x->{status}, 204, 'REST read 7: 204';
    is $x->{body} // '', '', '204 without a body';
    receipts_are($B, 7, 'REST read 7 (and none for the read 3 before it)');
    cursor_is($B, 7, 3, 'after REST read 7');

    $x = read_rest($B, 3);
    is $x->{status}, 204, 'REST read 3 (back): 204';
    $r = read_ws($b1, 7);
    is $r && $r->{type}, 'ok', 'WS read 7 again (no move): ok';
    cursor_is($B, 7, 3, 'still 7');
    $r = read_ws($b2, 8);
    receipts_are($B, 8, 'read 8 (none for the reads that did not move)');
    cursor_is($B, 8, 2, 'after read 8');
}

# ---- cursors of different users are independent
{
    cursor_is($C, 0, 10, "carol is untouched by bob's reads");
    my $r = read_ws($c1, 2);
    is $r && $r->{type}, 'ok', 'carol reads 2';
    receipts_are($C, 2, 'carol read 2');
    cursor_is($C, 2, 8, 'carol');
    cursor_is($B, 8, 2, "bob is untouched by carol's read");
    cursor_is($A, 10, 0, 'alice too');
}

# ---- beyond the latest seq
{
    my $r = read_ws($b1, 1000);
    is $r && $r->{type}, 'ok', 'read 1000: ok';
    receipts_are($B, 10, 'read 1000 moves to last_seq 10');
    cursor_is($B, 10, 0, 'after read 1000');
    my $x = read_rest($B, 5000);
    is $x->{status}, 204, 'REST read 5000 at the end: 204';
    my $s = $a1->request({ type => 'send', room => $room, body => 'm11' });
    is $s->{seq}, 11, 'alice sends 11';
    $_->[1]->wait_messages($room, 1, 5) for @conns;
    cursor_is($B, 10, 1, 'a new message is unread');
    cursor_is($A, 11, 0, "the sender's own message is read");
    $x = read_rest($B, 11);
    is $x->{status}, 204, 'REST read 11';
    receipts_are($B, 11,
        'read 11 (none for the read 5000 when the cursor was at the end)');
    cursor_is($B, 11, 0, 'after read 11');
}

# ---- bad reads and access
{
    for my $k ([-1], ['x'], [1.5], [undef]) {
        my $id = 'bad-' . next_id();
        my $r = $b1->request({ type => 'read', room => $room, id => $id,
                               defined $k->[0] ? (seq => $k->[0]) : () });
        ok $r && $r->{type} eq 'error' && $r->{code} eq 'bad_request'
            && $r->{id} eq $id,
            'WS read seq ' . ($k->[0] // 'missing') . ': bad_request'
            or diag explain $r;
        my $x = api($ng, POST => "/rooms/$room/read", user => $B,
                    json => { defined $k->[0] ? (seq => $k->[0]) : () });
        is_api_error $x, 400, 'bad_request',
            'REST read seq ' . ($k->[0] // 'missing') . ': 400';
    }
    is_api_error api($ng, POST => "/rooms/$room/read", user => $B,
                     body => 'not json'), 400, 'bad_request',
        'REST read, not JSON: 400';

    my $dm = "dm:${tag}alice:${tag}carol";
    is $a1->request({ type => 'send', room => $dm, body => 'psst' })->{type},
        'ok', 'a dm of alice and carol';
    my $r = read_ws($b1, 1, room => $dm);
    ok $r && $r->{type} eq 'error' && $r->{code} eq 'forbidden',
        'bob reads a dm of others: forbidden' or diag explain $r;
    is_api_error read_rest($B, 1, $dm), 403, 'forbidden',
        'REST read of a dm of others: 403';
    is_api_error api($ng, GET => "/rooms/$dm", user => $B), 403, 'forbidden',
        'GET /rooms/{dm of others}: 403';
    $r = read_ws($c1, 1, room => $dm);
    is $r && $r->{type}, 'ok', 'carol may read it';
    is room_of($C, $dm)->{read_seq}, 1, "carol's dm cursor";

    my $nope = rand_room('nope');
    $r = read_ws($b1, 1, room => $nope);
    ok $r && $r->{type} eq 'error' && $r->{code} eq 'not_found',
        'read of a room that does not exist: not_found' or diag explain $r;
    is_api_error read_rest($B, 1, $nope), 404, 'not_found',
        'REST read of a room that does not exist: 404';
    is_api_error api($ng, GET => "/rooms/$nope", user => $B), 404,
        'not_found', 'GET /rooms/{room that does not exist}: 404';

    my $priv = rand_room('cursor-priv');
    is api($ng, POST => '/rooms', user => $C,
           json => { room => $priv, private => true })->{status}, 201,
        'carol creates a private room';
    $r = read_ws($b1, 1, room => $priv);
    ok $r && $r->{type} eq 'error' && $r->{code} eq 'forbidden',
        'bob reads a private room of others: forbidden' or diag explain $r;
    is_api_error read_rest($B, 1, $priv), 403, 'forbidden',
        'REST read of a private room of others: 403';
    is_api_error api($ng, GET => "/rooms/$priv", user => $B), 403,
        'forbidden', 'GET /rooms/{private room of others}: 403';

    # none of these reached the room's connections
    $conns[0][1]->settle(0.2);
    my @left = map { grep { ($_->{type} // '') eq 'receipt' } @{ $_->[1]->queue } }
               @conns;
    is scalar(@left), 0, 'no receipt beyond those expected'
        or diag explain \@left;
}

# ---- GET /rooms: rooms joined, created or written to, newest activity first
{
    my ($U, $E) = ("${tag}dave", "${tag}erin");
    my ($R1, $R2, $R3, $R4, $R5) = map { rand_room("list$_") } 1 .. 5;
    my $Cr = rand_room('list-created');
    my $u = track login($ng, $U);
    my $e = track login($ng, $E);
    my $last_ts = 0;
    my $send = sub {
        my ($c, $r, $body) = @_;
        # distinct milliseconds, so that the order is the send order
        wait_until(sub { time * 1000 >= $last_ts + 2 }, 1, 0.001);
        my $x = $c->request({ type => 'send', room => $r, body => $body });
        die "send failed" unless $x && $x->{type} eq 'ok';
        $last_ts = $x->{ts};
        return $x;
    };
    my $cr = api($ng, POST => '/rooms', user => $U,
                 json => { room => $Cr, name => 'Created' });
    is $cr->{status}, 201, 'dave creates a room';
    $send->($e, $R4, 'e-r4');
    is $u->request({ type => 'join', room => $R4 })->{type}, 'ok',
        'dave joins a room erin wrote to';
    $send->($u, $R1, 'u-r1');
    $send->($u, $R2, 'u-r2');
    $send->($u, $R3, 'u-r3');
    $send->($e, $R1, 'e-r1');
    $send->($e, $R5, 'e-r5');
    my $P = rand_room('list-priv');
    is api($ng, POST => '/rooms', user => $E,
           json => { room => $P, private => true })->{status}, 201,
        'erin creates a private room';
    $send->($e, $P, 'e-p');

    my $x = api($ng, GET => '/rooms', user => $U);
    is $x->{status}, 200, 'GET /rooms: 200';
    my @rooms = @{ $x->{json}{rooms} // [] };
    is_deeply [map { $_->{room} } @rooms], [$R1, $R3, $R2, $R4, $Cr],
        'the rooms dave joined, created or wrote to, newest activity first'
        or diag explain [map { $_->{room} } @rooms];
    my %r = map { $_->{room} => $_ } @rooms;
    my $summary = sub {
        my $o = shift // {};
        return { map { $_ => $o->{$_} }
                 qw(kind name private last_seq read_seq unread role) };
    };
    is_deeply $summary->($r{$R1}),
        { kind => 'channel', name => undef, private => false, last_seq => 2,
          read_seq => 1, unread => 1, role => 'member' },
        'R1: his message read, erin\'s unread';
    is $r{$R1}{last_message}{body}, 'e-r1', 'R1: last_message is erin\'s';
    is $r{$R1}{last_message}{from}, $E, 'R1: last_message from';
    is $r{$R1}{last_message}{seq}, 2, 'R1: last_message seq';
    is $r{$R1}{last_message}{room}, $R1, 'R1: last_message room';
    ok !exists $r{$R1}{last_message}{type}, 'last_message has no type';
    for my $k ([$R2, 'u-r2'], [$R3, 'u-r3']) {
        is_deeply $summary->($r{ $k->[0] }),
            { kind => 'channel', name => undef, private => false,
              last_seq => 1, read_seq => 1, unread => 0, role => 'member' },
            "$k->[1]: only sent: unread 0";
        is $r{ $k->[0] }{last_message}{body}, $k->[1], "$k->[1]: last_message";
    }
    is_deeply $summary->($r{$R4}),
        { kind => 'channel', name => undef, private => false, last_seq => 1,
          read_seq => 0, unread => 1, role => 'member' },
        'R4: joined, never read';
    is $r{$R4}{last_message}{body}, 'e-r4', 'R4: last_message';
    is_deeply $summary->($r{$Cr}),
        { kind => 'channel', name => 'Created', private => false,
          last_seq => 0, read_seq => 0, unread => 0, role => 'owner' },
        'the created room: owner, no message';
    ok $r{$Cr} && !exists $r{$Cr}{last_message},
        'no last_message in a room without messages';

    # erin's view: R4 R1 R5 P, newest first
    $x = api($ng, GET => '/rooms', user => $E);
    is_deeply [map { $_->{room} } @{ $x->{json}{rooms} // [] }],
        [$P, $R5, $R1, $R4], "erin's rooms, newest activity first";

    # a read moves nothing in the order; a new message does
    is read_rest($U, 2, $R1)->{status}, 204, 'dave reads R1';
    $send->($e, $R2, 'e-r2');
    $x = api($ng, GET => '/rooms', user => $U);
    @rooms = @{ $x->{json}{rooms} // [] };
    is_deeply [map { $_->{room} } @rooms], [$R2, $R1, $R3, $R4, $Cr],
        'a new message in R2 puts it first';
    %r = map { $_->{room} => $_ } @rooms;
    is_deeply [map { [$r{$_}{read_seq}, $r{$_}{unread}] } $R1, $R2],
        [[2, 0], [1, 1]], 'cursors: R1 read, R2 one unread';

    # GET /rooms/{room}: a public room never joined
    my $F = "${tag}frank";
    my $j = room_of($F, $R5);
    is_deeply $summary->($j),
        { kind => 'channel', name => undef, private => false, last_seq => 1,
          read_seq => 0, unread => 1, role => undef },
        'GET /rooms/{public room never joined}: read_seq 0, no role';
    ok !exists $j->{role}, 'no role for a non-member';
    is $j->{room}, $R5, 'room';
    is $j->{last_message}{body}, 'e-r5', 'last_message';
    $x = api($ng, GET => '/rooms', user => $F);
    is_deeply $x->{json}, { rooms => [] },
        'looking at a room does not list it: frank has no rooms';

    # marking a room read follows it (docs/protocol.md, Access): frank now
    # has a cursor there, as a member
    is read_rest($F, 1, $R5)->{status}, 204,
        'frank reads the public room he never joined';
    $j = room_of($F, $R5);
    is_deeply [$j->{read_seq}, $j->{unread}, $j->{role}], [1, 0, 'member'],
        'his cursor moved, and he is a member';
    $x = api($ng, GET => '/rooms', user => $F);
    is_deeply [map { $_->{room} } @{ $x->{json}{rooms} // [] }], [$R5],
        'GET /rooms lists the room he marked read, and only that one';
}

# ---- a read that does not move the cursor of a user who never joined
{
    my $empty = rand_room('cursor-empty');
    my $w = track login($ng, "${tag}watch");
    my $x = track login($ng, "${tag}late");
    is $w->request({ type => 'join', room => $empty })->{seq}, 0,
        'a watcher joins an empty room';
    my $r = read_ws($x, 5, room => $empty);
    is $r && $r->{type}, 'ok', 'another user reads 5 there: ok';
    is room_of("${tag}late", $empty)->{read_seq}, 0, 'the cursor stays 0';
    my $s = $w->request({ type => 'send', room => $empty, body => 'first' });
    is $s->{seq}, 1, 'then a message';
    $r = read_ws($x, 1, room => $empty);
    is $r && $r->{type}, 'ok', 'and a read of it';
    my $rc = $w->wait_for(sub { ($_->{type} // '') eq 'receipt' }, 5);
    is_deeply $rc, { type => 'receipt', room => $empty,
                     user => "${tag}late", seq => 1, state => 'read' },
        'the first receipt is for the read that moved the cursor (none for '
        . 'the read that left it at 0)' or diag explain $rc;
}

# ---- POST /rooms
{
    my $O = "${tag}owner";
    my $N1 = rand_room('new');
    my $x = api($ng, POST => '/rooms', user => $O,
                json => { room => $N1, name => 'Room N', topic => 'The topic',
                          private => true });
    is $x->{status}, 201, 'POST /rooms: 201';
    is_deeply $x->{json},
        { room => $N1, kind => 'channel', name => 'Room N',
          topic => 'The topic', private => true, last_seq => 0,
          read_seq => 0, unread => 0, role => 'owner' },
        'the room: owner, name, topic, private';
    ok ref($x->{json}{private}) =~ /Boolean/, 'private is a JSON boolean';
    is_deeply room_of($O, $N1), $x->{json}, 'GET /rooms/{room} says the same';
    is_api_error api($ng, POST => '/rooms', user => $O,
                     json => { room => $N1 }), 409, 'conflict',
        'a second create: 409 conflict';
    is_api_error api($ng, POST => '/rooms', user => "${tag}other",
                     json => { room => $N1, name => 'mine' }), 409, 'conflict',
        'a create by another user: 409';
    is room_of($O, $N1)->{name}, 'Room N', 'the room is unchanged';

    my $N2 = rand_room('new');
    $x = api($ng, POST => '/rooms', user => $O, json => { room => $N2 });
    is $x->{status}, 201, 'POST /rooms with only room: 201';
    ok exists $x->{json}{name} && !defined $x->{json}{name}, 'name is null';
    is_deeply [$x->{json}{private}, $x->{json}{role}, $x->{json}{kind}],
        [false, 'owner', 'channel'], 'public, owner, channel';
    my $c = track login($ng, "${tag}guest");
    my $j = $c->request({ type => 'join', room => $N2 });
    is $j->{type}, 'ok', 'anyone may join a public created room';
    is $j->{seq}, 0, 'seq 0';

    my $name128 = 'n' x 128;
    my $N3 = rand_room('new');
    $x = api($ng, POST => '/rooms', user => $O,
             json => { room => $N3, name => $name128, topic => 't' x 1024 });
    is $x->{status}, 201, 'name of 128 bytes, topic of 1024: 201';
    is $x->{json}{name}, $name128, 'the long name';

    my @bad = (
        ['a dm: id',           { room => "dm:${tag}a:${tag}b" }],
        ['a dm: id of the caller', { room => "dm:${tag}a:$O" }],
        ['an id with a space', { room => 'bad room' }],
        ['an id of 65 bytes',  { room => 'r' x 65 }],
        ['an empty id',        { room => '' }],
        ['no room',            { name => 'x' }],
        ['room a number',      { room => 5 }],
        ['name of 129 bytes',  { room => rand_room('new'), name => 'n' x 129 }],
        ['name of 43 3-byte chars (129 bytes)',
                               { room => rand_room('new'),
                                 name => "\x{20ac}" x 43 }],
        ['name a number',      { room => rand_room('new'), name => 5 }],
        ['topic of 1025 bytes', { room => rand_room('new'),
                                  topic => 't' x 1025 }],
        ['private a string',   { room => rand_room('new'), private => 'yes' }],
    );
    for my $b (@bad) {
        is_api_error api($ng, POST => '/rooms', user => $O, json => $b->[1]),
            400, 'bad_request', "POST /rooms, $b->[0]: 400";
    }
    is_api_error api($ng, POST => '/rooms', user => $O, body => '{"room":'),
        400, 'bad_request', 'POST /rooms, not JSON: 400';
    my $dmid = "dm:${tag}a:${tag}b";
    is_api_error api($ng, GET => "/rooms/$dmid", user => "${tag}a"), 404,
        'not_found', 'the refused dm was not created';
    $x = api($ng, POST => '/rooms', user => $O,
             json => { room => rand_room('new'), name => "\x{20ac}" x 42 });
    is $x->{status}, 201, 'name of 42 3-byte chars (126 bytes): 201';
    is $x->{json}{name}, "\x{20ac}" x 42, 'UTF-8 name intact';

    $x = api($ng, GET => '/rooms', user => $O);
    is scalar(@{ $x->{json}{rooms} // [] }), 4,
        'the owner lists the 4 rooms created';
}

close_all(@open);
$ng->stop;
done_testing;
