# Schema 18 (sql/018_join_rows_lean.sql): a join's or an own leave's
# member event is a short row (user and action, no text), built again
# where it is read.  Events written by version 17's functions and by
# version 18's, for the same joins, leaves, kicks, bans, role changes,
# mutes, adds and room change, read the same, text for text: through
# chat_room_events (what the workers of the previous version read after a
# reload), through the module's replay (join with since_rev) and as the
# functions answered them when they were published.  A join batch moves a
# room's last_rev once.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Mojo::JSON qw(decode_json);
use ChatTest;
use ChatTest::Backends qw(scratch_db migrate latest_schema);

my $db = scratch_db('chat_mrows');
migrate($db, 1, 17);

my $t = "mw$$";
my ($ra, $rb) = ("$t-a", "$t-b");
my @users = map { "$t$_" } qw(u1 u2 u3 u4 u5 u6 u7 u8);

sub sq { (my $s = $_[0]) =~ s/'/''/g; return $s }

sub batch_json {
    my ($room, @e) = @_;
    return '[' . join(',', map {
        my $h = $_;
        '{' . join(',', qq("room":"$room"),
                   map { qq("$_":) . ($h->{$_} =~ /^\d+$/ ? $h->{$_}
                                                      : qq("$h->{$_}")) }
                   sort keys %$h) . '}'
    } @e) . ']';
}

# the rooms updates of one statement, in its own transaction
sub room_updates {
    my ($sql) = @_;
    my @out = split /\n/, psql($db, "begin; $sql; select n_tup_upd from"
                              . " pg_stat_xact_user_tables where relname ="
                              . " 'rooms'; commit;");
    return ($out[-1], @out[0 .. $#out - 1]);
}

# One script of membership changes in $room; answers the event texts the
# functions published, in order, and the rooms updates of the two batches
# of joins.
sub script {
    my ($room) = @_;
    my ($u1, $u2, $u3, $u4, $u5, $u6, $u7, $u8) = @users;
    my @published;
    my $open = sub {
        my ($sql, @rows) = room_updates(
            "select event from chat_room_open_batch('"
            . sq(batch_json($room, map { { user => $_ } } @_))
            . "'::jsonb, true, 0, 0) order by i");
        push @published, grep { length } @rows;
        return $sql;
    };
    my @upd;
    # a new room and its first two members in one batch, then two more
    push @upd, $open->($u1, $u2);
    push @upd, $open->($u3, $u4, $u1);
    # a first send that joins, a first read that joins
    psql($db, "select count(*) from chat_send_batch_quota('"
              . sq(batch_json($room, { from => $u5, body => 'hello' }))
              . "'::jsonb, true, 0, 0)");
    push @published, psql($db, "select event::text from chat_room_events"
                               . " where room_id = '$room' and event->>"
                               . "'user' = '$u5'");
    push @published, psql($db, "select o_event from chat_read_enter("
                               . "'$room', '$u6', 0, 'read')");
    my $adm = { by => $u8, jwt => 'admin' };
    my @acts = ({ action => 'leave', by => $u1 },
                { action => 'kick', user => $u2, %$adm },
                { action => 'ban', user => $u3, until => 4102444800000,
                  %$adm },
                { action => 'role', user => $u4, role => 'moderator',
                  %$adm },
                { action => 'mute', user => $u4, %$adm },
                { action => 'unmute', user => $u4, %$adm },
                { action => 'unban', user => $u3, %$adm },
                { action => 'add', user => $u7, %$adm },
                { action => 'leave', by => $u7 },
                { action => 'room', name => 'Named', %$adm });
    # one batch: the actions in order, each on its own
    my @r = split /\n/, psql($db, "select status || ' ' || coalesce(event,"
                                  . " '') from chat_member_batch('"
                                  . sq(batch_json($room, @acts))
                                  . "'::jsonb, true, 0, 0) order by i");
    is join(' ', map { (split / /)[0] } @r), join(' ', ('ok') x 10),
        "$room: leave, kick, ban, role, mute, unmute, unban, add, leave,"
        . ' room change';
    push @published, map { (split / /, $_, 2)[1] } @r;
    return (\@published, \@upd);
}

sub stored {
    my ($room) = @_;
    return [split /\n/, psql($db, "select event::text from chat_room_events"
                                  . " where room_id = '$room' order by rev")];
}

sub last_rev_right {
    my ($room) = @_;
    return psql($db, "select r.last_rev = greatest("
                     . "(select max(rev) from chat_room_events"
                     . " where room_id = r.id),"
                     . " (select max(rev) from messages where room_id = r.id))"
                     . " from rooms r where r.id = '$room'");
}

# version 17
my ($pub_a, $upd_a) = script($ra);
is scalar @$pub_a, 16, 'version 17 published 16 member and room events';
my $old = stored($ra);
is_deeply $old, $pub_a, 'version 17 stored them as published';
is_deeply $upd_a, [2, 2], 'version 17: a rooms update a join';
is last_rev_right($ra), 't', 'version 17: last_rev is the latest rev';

# A worker of version 17 keeps its connections and prepared statements
# across the migration: its replay (version 17's NGX_CHAT_SQL_LOG, events
# half), prepared before, run after, on a row written by version 18.
my $old_log = 'select event::text, rev from chat_room_events'
            . ' where room_id = $1 and rev > $2 and rev <= $3'
            . ' order by rev desc limit $4';
my $join_b = sq(batch_json($ra, { user => "${t}late" }));
my $mig = ChatTest::Env::command_line('psql', $db, '-qX', '-v',
    'ON_ERROR_STOP=1', '--single-transaction', '-f',
    glob(ChatTest::repo_root() . '/sql/018_*.sql'));
my $late = ChatTest::Env::sh('psql', $db, '-qtAX', '-v', 'ON_ERROR_STOP=1',
    '-c', "prepare old_log (text, bigint, bigint, integer) as $old_log",
    '-c', "execute old_log('$ra', 0, 1000, 1000)",
    '-c', "\\! $mig",
    '-c', "select count(*) from chat_room_open_batch('$join_b'::jsonb,"
          . " true, 0, 0)",
    '-c', "execute old_log('$ra', 0, 1000, 1000)");
is psql($db, 'select max(version) from chat_schema_version'), 18,
    'migrated to version 18';
my @late = split /\n/, $late;
is scalar @late, 16 + 1 + 17, 'the prepared replay ran before and after';
my $late_ev = qq({"type":"member","room":"$ra","user":"${t}late",)
            . '"rev":18,"action":"joined"}';
push @$old, $late_ev;
is_deeply [map { (split /\|/)[0] } reverse @late[-17 .. -1]], $old,
    '... and after it gives the rows of version 17 and a short row as'
    . ' published';
is psql($db, "select count(*) from chat_room_event_rows"
             . " where room_id = '$ra' and event is null"), 1,
    '(a short row)';
is_deeply stored($ra), $old,
    'the rows of version 17 read the same through chat_room_events';
is last_rev_right($ra), 't', 'last_rev is the latest rev';

# version 18, the same script in another room
my ($pub_b, $upd_b) = script($rb);
(my $pub_b_as_a = join "\n", @$pub_b) =~ s/\Q$rb\E/$ra/g;
is $pub_b_as_a, join("\n", @$pub_a),
    'version 18 publishes the same events as version 17';
is_deeply stored($rb), $pub_b,
    'and chat_room_events gives them as published';
is_deeply $upd_b, [1, 1], 'version 18: a rooms update a join batch';
is last_rev_right($rb), 't', 'version 18: last_rev is the latest rev';
is psql($db, "select string_agg(action::text || ':'"
             . " || (user_id is not null)::text || ':'"
             . " || (event is null)::text, ' ' order by rev)"
             . " from chat_room_event_rows where room_id = '$rb'"
             . " and event is null"),
    join(' ', ('j:true:true') x 6, 'l:true:true', 'l:true:true'),
    'the 6 joins and 2 own leaves are short rows, the others keep text';
is psql($db, "select count(*) from chat_room_event_rows"
             . " where room_id = '$ra' and event is null"), 1,
    'the rows of version 17 keep their text';

# the module replays both rooms from their first rev, on the schema it
# works with (the later migrations leave the event rows as they are)
migrate($db, 19, latest_schema());
my $ng = start_nginx(pg => $db, workers => 1);
ok wait_until(sub { api($ng, 'GET', '/health')->{status} == 200 }, 10,
              0.05), 'the module works with the migrated database';
my $c = login($ng, "${t}reader");
my @raw;
$c->tx->on(text => sub { push @raw, $_[1] });
for my $k ([$ra, $old], [$rb, $pub_b]) {
    my ($room, $want) = @$k;
    @raw = ();
    my ($f, $reply) = $c->join_replay($room, { since_rev => 0 }, 10);
    is $reply && $reply->{type}, 'ok', "$room: join with since_rev 0";
    my @ev = grep { my $e = decode_json($_);
                    ($e->{room} // '') eq $room
                    && ($e->{type} eq 'member' || $e->{type} eq 'room')
                    && ($e->{rev} // 0) < $reply->{rev} } @raw;
    is_deeply \@ev, $want,
        "$room: the replay's frames are the stored events, text for text";
}

# REST history: the message of the send that joined, with its rev
for my $room ($ra, $rb) {
    my $h = api($ng, 'GET', "/rooms/$room/messages", user => $users[4]);
    is $h->{status}, 200, "$room: history";
    is_deeply [map { "$_->{seq} $_->{rev} $_->{from} $_->{body}" }
               @{ $h->{json}{messages} }],
              ["1 6 $users[4] hello"],
              '... the message after its sender\'s joined event';
}

is_deeply [$ng->crashes], [], 'no worker crashed';
$ng->stop;
done_testing;
