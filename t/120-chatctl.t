# chatctl, the command-line client (README.md, "Command line: chatctl"),
# against a real nginx: --help of every command, usage errors, send (as an
# argument, from stdin one message a line or whole, retried with the same
# client_msg_id: stored once), rooms, history paging, search, dm, and the
# exit codes a script relies on (bad token, unknown room, server down,
# rate limited, refused).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Mojo::JSON qw(decode_json);
use ChatTest;
use ChatTest::Ctl qw(ctl ctl_bin);

plan skip_all => 'build/chatctl is not built' unless -x ctl_bin();

my $ng = start_nginx(workers => 2);
my $pg = backends()->{conninfo};
my $tag = sprintf 'c%d%04x', $$, int rand 65536;
my ($alice, $bob) = ("${tag}a", "${tag}b");
my $room = rand_room('ctl');

sub stored {
    my ($r, $where) = @_;
    return psql($pg, "select count(*) from messages where room_id = '$r'"
                     . ($where ? " and $where" : ''));
}

# ---- --help of every command exits 0 and prints its usage
my $help = ctl(undef, '--help');
is $help->{rc}, 0, 'chatctl --help: exit 0';
like $help->{out}, qr/Exit codes:.*\b5\s+rate limited/s,
    'and documents the exit codes';
my ($list) = $help->{out} =~ /^Commands:\n(.*?)\n\n/ms;
my @cmds = ($list // '') =~ /^  (\w+) /mg;
ok @cmds >= 15, 'it lists the commands: ' . join ' ', @cmds;
for my $cmd (@cmds) {
    my $r = ctl(undef, $cmd, '--help');
    is $r->{rc}, 0, "chatctl $cmd --help: exit 0";
    like $r->{out}, qr/usage: chatctl $cmd/, "and prints its usage";
}

# ---- usage errors: 1
for my $bad (['nosuchcommand'], ['send'], ['send', 'bad room!', 'x'],
             ['history'], ['rooms', '--bogus'], ['tail', 'a', 'b'],
             ['ban', 'room'], ['mute', 'r', 'u', '--until', 'soon'],
             ['--timeout', 'x', 'rooms'])
{
    my $r = ctl($ng, user => $alice, @$bad);
    is $r->{rc}, 1, "chatctl @$bad: exit 1";
    like $r->{err}, qr/^chatctl: usage: /m, 'with "chatctl: usage: ..."';
}

# ---- send as an argument: acknowledged (exit 0, the seq), stored once
my $r = ctl($ng, user => $alice, 'send', $room, 'hello', 'from', 'argv');
is $r->{rc}, 0, 'send ROOM TEXT: exit 0' or diag $r->{err};
is $r->{out}, "1\n", 'prints the seq of the message';
is psql($pg, "select body from messages where room_id = '$room'"),
    'hello from argv', 'stored, words joined by spaces';

# from stdin: one message a line, empty lines skipped
$r = ctl($ng, user => $alice, stdin => "line one\n\nline two\nline 3",
         'send', $room);
is $r->{rc}, 0, 'send ROOM < lines: exit 0' or diag $r->{err};
is_deeply $r->{lines}, [2, 3, 4], 'three messages, their seqs';
is psql($pg, "select string_agg(body, '|' order by seq) from messages "
             . "where room_id = '$room' and seq > 1"),
    'line one|line two|line 3', 'one message a line, in order';

# --all: the whole input is one message (the last newline aside)
$r = ctl($ng, user => $alice, stdin => "first\nsecond\n", 'send', $room,
         '--all', '--json');
is $r->{rc}, 0, 'send --all: exit 0';
my $ack = eval { decode_json($r->{out}) } // {};
is $ack->{seq}, 5, '--json prints the answer';
is psql($pg, "select body from messages where room_id = '$room' "
             . "and seq = 5"), "first\nsecond", 'the whole input';

# a retry with the same client_msg_id: the same seq, stored once
my @seq;
for (1 .. 2) {
    $r = ctl($ng, user => $alice, 'send', $room, 'retried',
             '--client-msg-id', "$tag-once");
    is $r->{rc}, 0, "send --client-msg-id (try $_): exit 0";
    push @seq, $r->{out};
}
is $seq[0], "6\n", 'the first try stored seq 6';
is $seq[1], $seq[0], 'the retry got the same seq';
is stored($room, "body = 'retried'"), 1, 'and one message exists';

# lines with a client_msg_id: ID-N for line N, so the same input again
# stores nothing new
for (1 .. 2) {
    $r = ctl($ng, user => $alice, stdin => "l1\nl2\n", 'send', $room,
             '--client-msg-id', "$tag-lines");
    is_deeply $r->{lines}, [7, 8], "lines with --client-msg-id (try $_)";
}
is psql($pg, "select string_agg(client_msg_id, ',' order by seq) from "
             . "messages where room_id = '$room' and seq in (7, 8)"),
    "$tag-lines-1,$tag-lines-2", 'their client_msg_ids are ID-1, ID-2';

# refused: too large (6), not UTF-8 (1), nothing to send (1)
$r = ctl($ng, user => $alice, 'send', $room, 'x' x 3000);
is $r->{rc}, 6, 'a body over chat_message_max: exit 6';
like $r->{err}, qr/^chatctl: too_large: /m, 'chatctl: too_large: ...';
$r = ctl($ng, user => $alice, stdin => "\xff\xfe\n", 'send', $room);
is $r->{rc}, 1, 'a line that is not UTF-8: exit 1';
$r = ctl($ng, user => $alice, stdin => "\n\n", 'send', $room);
is $r->{rc}, 1, 'nothing on stdin: exit 1';
is stored($room), 8, 'none of them stored';

# ---- rooms
$r = ctl($ng, user => $alice, 'rooms');
is $r->{rc}, 0, 'rooms: exit 0';
my ($line) = grep { /^\Q$room\E\t/ } @{ $r->{lines} };
like $line // '', qr/^\Q$room\E\tchannel\t\d+\t8\t/,
    'lists the room, its kind and last seq';
$r = ctl($ng, user => $alice, 'rooms', '--json');
my $rooms = eval { decode_json($r->{out}) } // {};
ok((grep { $_->{room} eq $room } @{ $rooms->{rooms} // [] }),
   'rooms --json: the answer of GET /rooms');

# ---- history: pages
$r = ctl($ng, user => $alice, 'history', $room, '--limit', '3', '--json');
is $r->{rc}, 0, 'history --limit 3: exit 0';
my @h = map { decode_json($_) } @{ $r->{lines} };
is_deeply [map { $_->{seq} } @h], [6, 7, 8], 'the newest page, ascending';
like $r->{err}, qr/--before 6/, 'stderr says how to get the page before';
$r = ctl($ng, user => $alice, 'history', $room, '--limit', '3',
         '--before', '6', '--json');
is_deeply [map { decode_json($_)->{seq} } @{ $r->{lines} }], [3, 4, 5],
    '--before 6: the page before';
$r = ctl($ng, user => $alice, 'history', $room, '--limit', '3', '--all',
         '--json');
is_deeply [map { decode_json($_)->{seq} } @{ $r->{lines} }], [1 .. 8],
    '--all pages back to the first message, each once, ascending';
is $r->{err}, '', 'and needs no next page';
$r = ctl($ng, user => $alice, 'history', $room, '--limit', '2');
like $r->{out}, qr/^\d\d:\d\d:\d\d \Q$room\E#7 $alice: l1\n.*#8 $alice: l2$/m,
    'history without --json: "time room#seq user: body" lines';

# ---- search
$r = ctl($ng, user => $alice, 'search', 'retried', '--room', $room,
         '--json');
is $r->{rc}, 0, 'search: exit 0';
is_deeply [map { decode_json($_)->{seq} } @{ $r->{lines} }], [6],
    'the one match';

# ---- dm: bob must be known first
$r = ctl($ng, user => $alice, 'dm', $bob);
is $r->{rc}, 4, 'dm with a user never seen: exit 4';
like $r->{err}, qr/^chatctl: not_found: /m, 'chatctl: not_found: ...';
is ctl($ng, user => $bob, 'rooms')->{rc}, 0, 'bob calls the API once';
# the gateway records a user it sees after answering: await the row
ok wait_until(sub {
    psql($pg, "select count(*) from chat_users where user_id = '$bob'") eq '1'
}, 10), 'and is known';
$r = ctl($ng, user => $alice, 'dm', $bob);
is $r->{rc}, 0, 'dm USER: exit 0';
my $dm = join ':', 'dm', sort $alice, $bob;
is $r->{out}, "$dm\n", 'prints the DM room';
$r = ctl($ng, user => $bob, 'send', $dm, 'hi alice');
is $r->{rc}, 0, 'bob sends to it';
is stored($dm), 1, 'stored in the DM room';
my $carol = "${tag}c";
is ctl($ng, user => $carol, 'history', $dm)->{rc}, 3,
    'a third user may not read it: exit 3';

# ---- exit codes: bad token 3, unknown room 4, server down 2
$r = ctl($ng, jwt => 'not.a.token', 'rooms');
is $r->{rc}, 3, 'a bad token: exit 3';
like $r->{err}, qr/^chatctl: unauthenticated: /m,
    'chatctl: unauthenticated: ...';
$r = ctl($ng, jwt => token(sub => $alice, ttl => -120), 'send', $room,
         'late');
is $r->{rc}, 3, 'an expired token: exit 3';
$r = ctl($ng, env => { CHATCTL_TOKEN => undef }, 'rooms');
is $r->{rc}, 3, 'no token at all: exit 3';
like $r->{err}, qr/no token/, 'says so';
$r = ctl($ng, user => $alice, 'history', rand_room('none'));
is $r->{rc}, 4, 'history of an unknown room: exit 4';
like $r->{err}, qr/^chatctl: not_found: /m, 'chatctl: not_found: ...';

my $down = 'http://127.0.0.1:' . free_port();
for my $cmd (['rooms'], ['send', $room, 'x', '--retries', '1'],
             ['tail', $room], ['history', $room])
{
    $r = ctl($down, user => $alice, @$cmd);
    is $r->{rc}, 2, "$cmd->[0] with no server: exit 2";
    like $r->{err}, qr/^chatctl: unavailable: connect to .*refused/m,
        'chatctl: unavailable: connect to ...: Connection refused';
}
my $tries = () = ctl($down, user => $alice, 'send', $room, 'x', '--retries',
                     '2')->{err} =~ /retrying in/g;
is $tries, 2, 'send --retries 2: retried twice before giving up';

# rate limited: 5, with the server's Retry-After (10 at once, as by
# default, then one a minute: however slow each run of chatctl on a busy
# machine, the eleventh send comes before the budget grows)
my $limited = start_nginx(workers => 1,
                          http => 'chat_user_send_rate 1r/m burst=9;');
my $u = "${tag}r";
my $passed = 0;
for (1 .. 30) {
    $r = ctl($limited, user => $u, 'send', $room, "burst $_");
    last if $r->{rc} != 0;
    $passed++;
}
is $passed, 10, "$passed sends pass (chat_user_send_rate: 10 at once)";
is $r->{rc}, 5, 'then: exit 5';
like $r->{err}, qr/^chatctl: rate_limited: .*retry after \d+ s/m,
    'chatctl: rate_limited: ... (retry after N s)';

done_testing;
