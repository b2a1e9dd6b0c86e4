# Retention (docs/protocol.md "history": history ends where retention
# removed older messages; seqs never restart) and scripts/chat-retention:
# month partitions are created ahead and whole old months dropped.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX qw(strftime);
use Time::HiRes qw(time);
use ChatTest;

# every WebSocket client, closed before nginx stops
my @open;
sub track { push @open, @_; return $_[0] }

my $pg = start_pg();    # own database: dropping partitions affects no one
my $ci = $pg->conninfo;
my $ng = start_nginx(pg => $ci);
my $script = repo_root() . '/scripts/chat-retention';
my $room = rand_room('ret');

# a month 6 months ago, its partition, 5 old messages of the room in it
my $now_ms = int(time * 1000);
my $old_ms = $now_ms - 183 * 86400 * 1000;
my $old_part = 'messages_' . strftime('%Y%m', gmtime($old_ms / 1000));
is psql($ci, "select chat_month_partition($old_ms)"), $old_part,
    "chat_month_partition creates $old_part";
psql($ci, "insert into rooms (id) values ('$room')");
psql($ci, "insert into messages (room_id, seq, rev, sender, body, ts)"
        . " select '$room', g, g, 'olduser', 'old' || g, $old_ms + g"
        . " from generate_series(1, 5) g");
psql($ci, "update rooms set last_seq = 5, last_rev = 5, last_ts = $old_ms + 5"
        . " where id = '$room'");
is psql($ci, "select count(*) from $old_part where room_id = '$room'"), 5,
    'the 5 old messages are in the old partition';

my $c = track login($ng, 'alice');
is $c->request({ type => 'join', room => $room })->{seq}, 5,
    'join: latest seq 5';
my @acks = $c->pipeline([map { { type => 'send', room => $room,
                                 body => "new$_" } } 1 .. 3]);
is_deeply [map { $_ && $_->{seq} } @acks], [6, 7, 8],
    'three new sends: seq 6..8, following the old partition';
$c->wait_messages($room, 3, 5);

sub hist {
    my (%a) = @_;
    my $r = $c->request({ type => 'history', room => $room, %a }, 10);
    return ([map { $_->{seq} } @{ $r->{messages} // [] }],
            $r->{has_more}, $r);
}

my ($s, $more, $h) = hist();
is_deeply $s, [1 .. 8], 'history: 1..8 over both partitions';
ok defined $more && !$more, 'has_more false';
is_deeply [map { $_->{body} } @{ $h->{messages} }],
    [(map { "old$_" } 1 .. 5), map { "new$_" } 1 .. 3], 'bodies';
is $h->{messages}[0]{ts}, $old_ms + 1, 'old ts';

# ---- the retention command
sub run_retention {
    my @args = @_;
    my $out = `@{[join ' ', map { ChatTest::quote($_) } $script, @args]} 2>&1`;
    return ($? >> 8, $out);
}
sub partitions {
    my $l = psql($ci, "select c.relname from pg_inherits i"
                    . " join pg_class c on c.oid = i.inhrelid"
                    . " where i.inhparent = 'messages'::regclass"
                    . " order by 1");
    return split /\n/, $l;
}

my @months = map {
    my @t = gmtime;
    my $m = $t[4] + $_;
    sprintf 'messages_%04d%02d', $t[5] + 1900 + int($m / 12), $m % 12 + 1;
} 0 .. 3;

psql($ci, "drop table if exists $months[3]");    # for the command to create
ok !grep({ $_ eq $months[3] } partitions()), "no $months[3] before";

my ($rc, $out) = run_retention($ci, 90);
is $rc, 0, 'chat-retention CONNINFO 90: exit 0' or diag $out;
my @dropped = $out =~ /dropped (\S+)/g;
is_deeply \@dropped, [$old_part], "it says it dropped $old_part only"
    or diag $out;
for my $m (@months) {
    like $out, qr/partition \Q$m\E\b/, "it reports the partition $m";
}
is psql($ci, "select count(*) from pg_class where relname = '$old_part'"), 0,
    "$old_part is gone from pg_class";
my %p = map { $_ => 1 } partitions();
ok $p{$_}, "partition $_ exists (this month and the next ones)"
    for @months;
ok $p{messages_default}, 'the default partition is kept';

($s, $more, $h) = hist();
is_deeply $s, [6 .. 8], 'history now starts at 6';
ok defined $more && !$more, 'has_more false: nothing older exists';
($s, $more) = hist(before => 6);
is_deeply $s, [], 'before 6: empty';
ok defined $more && !$more, 'has_more false';
($s, $more) = hist(after => 0, limit => 2);
is_deeply $s, [6, 7], 'after 0 limit 2: 6, 7';
ok $more, 'has_more true';
($s, $more) = hist(after => 2, before => 7);
is_deeply $s, [6], 'after 2 before 7: 6';
ok defined $more && !$more, 'has_more false';

my $r = $c->request({ type => 'send', room => $room, body => 'after' });
is $r->{seq}, 9, 'a new send gets seq 9: seqs never restart';
$c->wait_messages($room, 1, 5);

my $d = track login($ng, 'bob');
my $id = next_id();
$d->send_json({ type => 'join', room => $room, since => 0, id => $id });
my @f = $d->recv_until(sub { ($_->{id} // '') eq $id }, 10);
my $reply = pop @f;
is $reply && $reply->{seq}, 9, 'join since 0: reply seq 9';
is_deeply [map { $_->{seq} } grep { $_->{type} eq 'message' } @f], [6 .. 9],
    'join since 0 replays what is left: 6..9';

my $g = api($ng, GET => "/rooms/$room", user => 'bob');
is $g->{json}{last_seq}, 9, 'GET /rooms/{room}: last_seq 9';
is $g->{json}{last_message}{body}, 'after', 'last_message';

# ---- twice is harmless
($rc, $out) = run_retention($ci, 90);
is $rc, 0, 'a second run: exit 0' or diag $out;
unlike $out, qr/dropped/, 'it drops nothing' or diag $out;
is_deeply [partitions()], [sort keys %p], 'the same partitions';
($s) = hist();
is_deeply $s, [6 .. 9], 'history unchanged';
($rc, $out) = run_retention($ci);
is $rc, 0, 'defaults (90 days, 3 months ahead): exit 0' or diag $out;
unlike $out, qr/dropped/, 'it drops nothing';

# ---- bad arguments
for my $args (['abc'], ['-5'], ['9x'], [90, 'x'], [90, '-1']) {
    ($rc, $out) = run_retention($ci, @$args);
    isnt $rc, 0, "bad argument(s) '@$args': non-zero exit";
}
($rc, $out) = run_retention();
isnt $rc, 0, 'no conninfo: non-zero exit';
($rc, $out) = run_retention('host=127.0.0.1 port=1 dbname=chat user=chat '
                            . 'connect_timeout=2', 90);
isnt $rc, 0, 'a database that cannot be reached: non-zero exit'
    or diag $out;
($rc, $out) = run_retention('host=127.0.0.1 port=' . $pg->port
                            . ' dbname=postgres user=postgres', 90);
isnt $rc, 0, 'a database without the chat schema: non-zero exit'
    or diag $out;
is_deeply [partitions()], [sort keys %p], 'partitions unchanged';
($s) = hist();
is_deeply $s, [6 .. 9], 'history unchanged';

close_all(@open);
$ng->stop;
done_testing;
