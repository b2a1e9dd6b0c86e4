# A room of 100 000 messages (docs/protocol.md "history": each page is one
# indexed query, whatever the size of the room): the first and the last
# page are right, and their statements are index scans that touch a few
# buffers, asserted on the plans rather than by timing: with statistics
# taken before the room grew (a crowded partition, analyzed before the
# room's 100 000 messages came) and with statistics that know the room.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use Mojo::JSON qw(decode_json);
use ChatTest;

my $N = 100_000;
my $ng = start_nginx();
my $ci = backends()->{conninfo};
my $room = rand_room('large');

# every WebSocket client, closed before nginx stops
my @open;

# ---- the room, inserted with one statement each
my $t0 = time;
my $base = psql($ci, "select greatest("
    . "(extract(epoch from date_trunc('month', now() at time zone 'UTC')"
    . " at time zone 'UTC') * 1000)::bigint,"
    . " (extract(epoch from now()) * 1000)::bigint - 200000)");

# Statistics first, taken before the room exists, of a month partition
# shared by many rooms (20 000 rooms of 3 messages): the planner then
# knows the partition but not this room, as after any growth that
# autovacuum has not analyzed yet (it waits for 10% of a partition to
# change).
my $crowd = "crowd-$$-";
psql($ci, "insert into messages (room_id, seq, rev, sender, body, ts)"
        . " select '$crowd' || (g / 3), g % 3 + 1, g % 3 + 1, 'bulk', 'c',"
        . " $base + g from generate_series(0, 59999) g");
psql($ci, 'analyze messages');
psql($ci, "insert into rooms (id, last_seq, last_rev, last_ts, created_by)"
        . " values ('$room', $N, $N, $base + $N, 'bulk')");
psql($ci, "insert into messages (room_id, seq, rev, sender, body, ts)"
        . " select '$room', g, g, 'bulk', 'b' || g, $base + g"
        . " from generate_series(1, $N) g");
is psql($ci, "select count(*), min(seq), max(seq) from messages"
           . " where room_id = '$room'"), "$N|1|$N",
    sprintf('%d messages inserted (%.1f s)', $N, time - $t0);

# ---- REST: the first and the last page
sub page {
    my ($q) = @_;
    my $r = api($ng, GET => "/rooms/$room/messages$q", user => 'bob');
    return ($r, [map { $_->{seq} } @{ $r->{json}{messages} // [] }]);
}
{
    my ($r, $s) = page('?after=0&limit=50');
    is $r->{status}, 200, 'first page: 200';
    is_deeply $s, [1 .. 50], 'first page (after=0&limit=50): 1..50';
    ok $r->{json}{has_more}, 'has_more true';
    is $r->{json}{messages}[0]{body}, 'b1', 'body of seq 1';
    ($r, $s) = page('?limit=50');
    is $r->{status}, 200, 'last page: 200';
    is_deeply $s, [$N - 49 .. $N], "last page (limit=50): " . ($N - 49)
        . "..$N";
    ok $r->{json}{has_more}, 'has_more true';
    is $r->{json}{messages}[-1]{body}, "b$N", "body of seq $N";
    is $r->{json}{messages}[-1]{ts}, $base + $N, 'its ts';
    ($r, $s) = page('?before=50001&limit=50');
    is_deeply $s, [49951 .. 50000], 'a middle page: 49951..50000';
    ($r, $s) = page('?after=99990&limit=50');
    is_deeply $s, [99991 .. $N], 'the last page forward: 99991..100000';
    ok !$r->{json}{has_more}, 'has_more false';
    ($r, $s) = page('?before=11&limit=200');
    is_deeply $s, [1 .. 10], 'the first page back: 1..10';
    ok !$r->{json}{has_more}, 'has_more false';

    my $c = login($ng, 'bob');
    push @open, $c;
    my $h = $c->request({ type => 'history', room => $room, limit => 200 });
    is_deeply [map { $_->{seq} } @{ $h->{messages} // [] }],
        [$N - 199 .. $N], 'WebSocket history limit 200: the newest 200';
    $h = $c->request({ type => 'history', room => $room, after => 0,
                       limit => 200 });
    is_deeply [map { $_->{seq} } @{ $h->{messages} // [] }], [1 .. 200],
        'WebSocket history after 0 limit 200: the oldest 200';
}

# ---- the plans
# explain (analyze, buffers, format json) of $sql, after @setup, in one
# psql session; returns the top plan node
sub plan_of {
    my ($sql, @setup) = @_;
    my $script = join '', map { "$_;\n" } @setup,
        "explain (analyze, buffers, format json) $sql";
    my $file = "/tmp/large-$$.sql";
    open my $f, '>', $file or die $!;
    print $f $script;
    close $f;
    my $out = `psql @{[ChatTest::quote($ci)]} -qtAX -v ON_ERROR_STOP=1 -f $file 2>&1`;
    unlink $file;
    die "explain failed: $out" if $?;
    # the JSON plan is the last output (setup statements may print rows)
    $out =~ /(\[\s*\{.*\})\s*\]\s*$/s or die "no plan in: $out";
    my $plan = decode_json("$1]");
    return $plan->[0]{Plan};
}

sub nodes {
    my $n = shift;
    return ($n, map { nodes($_) } @{ $n->{Plans} // [] });
}

sub buffers { $_[0]{'Shared Hit Blocks'} + $_[0]{'Shared Read Blocks'} }

# a plan that reads the page by index: every scan of a messages partition
# is an index scan, nothing is sorted, the limit stops it
sub plan_ok {
    my ($plan, $rows, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @n = nodes($plan);
    my @scans = grep { ($_->{'Relation Name'} // '') =~ /^messages/ } @n;
    my @bad = grep { $_->{'Node Type'} !~ /^Index (Only )?Scan$/ } @scans;
    ok @scans && !@bad, "$name: index scans on the messages partitions ("
        . join(', ', map { "$_->{'Node Type'} on $_->{'Relation Name'}" }
               @bad ? @bad : @scans[0 .. 0]) . ')';
    ok !grep({ $_->{'Node Type'} =~ /Seq Scan|Sort$|Bitmap/ } @n),
        "$name: no Seq Scan, no Sort, no bitmap scan"
        or diag join ', ', map { $_->{'Node Type'} } @n;
    is $plan->{'Actual Rows'}, $rows, "$name: $rows rows";
    my $b = buffers($plan);
    cmp_ok $b, '<', 100, "$name: $b shared buffers (hit + read) < 100";
    my $scanned = 0;
    $scanned += $_->{'Actual Rows'} * $_->{'Actual Loops'} for @scans;
    cmp_ok $scanned, '<=', $rows, "$name: the scans returned $scanned rows";
    return $b;
}

my $cols = 'm.seq, m.msg_id, m.sender, m.sender_name, m.body, '
    . 'm.client_msg_id, m.reply_to, m.meta, m.ts, m.deleted, m.edited_at';
my $newest = "select $cols from messages m where m.room_id = '$room'"
    . " and m.seq < 9223372036854775807 order by m.seq desc limit 51";
my $oldest = "select $cols from messages m where m.room_id = '$room'"
    . " and m.seq > 0 and m.seq < 9223372036854775807"
    . " order by m.seq limit 51";
my $middle = "select $cols from messages m where m.room_id = '$room'"
    . " and m.seq < 50001 order by m.seq desc limit 51";

# chat_history runs its statement with settings of its own (SET clauses,
# against plans that read a whole room): the statements are checked as it
# runs them
my @fn_settings = map { /^([^=]+)=(.*)$/ ? "set $1 = '$2'" : () }
    split /\n/, ChatTest::psql($ci, "select unnest(proconfig) from pg_proc"
                                     . " where proname = 'chat_history'");
ok scalar(@fn_settings), 'chat_history has settings of its own: '
    . join('; ', @fn_settings);

# the newest page as chat_history runs it, re-sorted ascending: the sort
# its settings penalize lifts the plan's cost above jit_above_cost, and
# JIT compiling the statement took 250 ms a page
{
    my $page = "select * from ($newest) page order by page.seq";
    my $file = "/tmp/large-jit-$$.sql";
    open my $f, '>', $file or die $!;
    print $f join('', map { "$_;\n" } @fn_settings,
                  "explain (analyze, format json) $page");
    close $f;
    my $out = `psql @{[ChatTest::quote($ci)]} -qtAX -v ON_ERROR_STOP=1 -f $file 2>&1`;
    unlink $file;
    ok $? == 0 && $out =~ /"Plan"/, 'the newest page explained as run';
    unlike $out, qr/"JIT"/, 'the newest page is not JIT compiled';
}

# the three statements and the function, with the statistics as they are
sub check_plans {
    my ($stats) = @_;
    my %cost;
    $cost{newest} = plan_ok(plan_of($newest, @fn_settings), 51,
                            "$stats: newest page (the statement)");
    $cost{oldest} = plan_ok(plan_of($oldest, @fn_settings), 51,
                            "$stats: oldest page (the statement)");
    $cost{middle} = plan_ok(plan_of($middle, @fn_settings), 51,
                            "$stats: middle page (the statement)");

    # the function itself, as the module calls it, after warming up its
    # plan cache in the same session (more than five calls each: PL/pgSQL
    # may switch to a cached generic plan, which must be as good)
    my @warm = map { ("select count(*) from chat_history('$room', 'bob', $_)")
                     x 7 } 'null, null, 51', 'null, 0, 51', '50001, null, 51';
    for my $k (['newest', 'null, null, 51'], ['oldest', 'null, 0, 51'],
               ['middle', '50001, null, 51']) {
        my $p = plan_of("select * from chat_history('$room', 'bob', $k->[1])",
                        @warm);
        is $p->{'Actual Rows'}, 51, "$stats: chat_history, $k->[0] page: "
            . '51 rows';
        my $b = buffers($p);
        cmp_ok $b, '<', 100, "$stats: chat_history, $k->[0] page: $b "
            . 'buffers < 100';
        $cost{"fn_$k->[0]"} = $b;
    }
    cmp_ok abs($cost{fn_newest} - $cost{fn_oldest}), '<=', 10,
        "$stats: chat_history: the first and the last page cost the same "
        . "($cost{fn_oldest} and $cost{fn_newest} buffers)";
    cmp_ok abs($cost{newest} - $cost{oldest}), '<=', 10,
        "$stats: the statements: the first and the last page cost the same "
        . "($cost{oldest} and $cost{newest} buffers)";
    note "$stats: " . explain \%cost;
}

check_plans('statistics older than the room');
psql($ci, 'analyze messages');
check_plans('statistics that know the room');

close_all(@open);
$ng->stop;
done_testing;
