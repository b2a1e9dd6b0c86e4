# The replay of a room's log by rev without a rev index on messages
# (schema 17): messages are found on the (room_id, seq) index from the
# bound last_seq - (last_rev - since) of the room's row.  A room is built
# through the module with messages between bursts of events that are not
# messages (joins of many users, an edit, a delete, a first read), then:
# joins with since_rev just before a burst, inside it and after it,
# capped and not; and the statement the module runs
# (NGX_CHAT_SQL_LOG in src/ngx_chat_sql.h) against a plain filter on rev
# for every since_rev, three limits and both orders, before and after
# the oldest messages are deleted as retention does.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $ng = start_nginx(server => q{
        location /chat/ws-r4 {
            chat_ws;
            chat_join_replay_max 4;
        }});
my $url4 = 'ws://127.0.0.1:' . $ng->port . '/chat/ws-r4';
my $be = ChatTest::backends();
my $pg = 'host=127.0.0.1 port=' . $be->{pg_port} . ' dbname=chat user=chat';

my %durable = map { $_ => 1 } qw(message member edited deleted);

sub join_room {
    my ($c, $room, %a) = @_;
    my ($f, $reply) = $c->join_replay($room, \%a, 10);
    return ([grep { $durable{ $_->{type} // '' } } @$f], $reply);
}

sub revs { [map { $_->{rev} } @_] }
sub kinds { join ' ', map { $_->{type} eq 'message' ? "m$_->{seq}"
                            : $_->{type} eq 'member' ? "j:$_->{user}"
                            : "$_->{type}$_->{seq}" } @_ }

my $room = rand_room('bound');
my $alice = login($ng, 'alice');
my (undef, $r) = join_room($alice, $room);
is $r && $r->{rev}, 1, 'alice joins: rev 1';

sub sends {
    my @acks = $alice->pipeline([map { { type => 'send', room => $room,
                                         body => "b$_" } } @_], 10);
    return [map { $_ && $_->{rev} } @acks];
}

is_deeply sends(1 .. 5), [2 .. 6], 'five messages: rev 2 to 6';

# a burst of events that are not messages: six joins, an edit, a delete
for my $u (map { "u$_" } 1 .. 6) {
    my (undef, $j) = join_room(login($ng, $u), $room);
    ok $j && $j->{rev}, "$u joins: rev $j->{rev}";
}
my $ed = $alice->request({ type => 'edit', room => $room, seq => 2,
                          body => 'b2 edited' });
is $ed && $ed->{rev}, 13, 'an edit of seq 2: rev 13';
my $del = $alice->request({ type => 'delete', room => $room, seq => 3 });
is $del && $del->{rev}, 14, 'a delete of seq 3: rev 14';

is_deeply sends(6 .. 9), [15 .. 18], 'four more messages: rev 15 to 18';
my $rd = login($ng, 'reader');
my $read = $rd->request({ type => 'read', room => $room, seq => 9 });
ok $read && !$read->{code}, 'a first read by a newcomer';
is_deeply sends(10), [20], 'and a message: rev 20 (the read joined at 19)';

is psql($pg, "select last_seq || ' ' || last_rev from rooms"
           . " where id = '$room'"), '10 20', 'the room: last_seq 10, rev 20';

# joins with since_rev: just before the burst, inside, after it
my %want = (
    5  => 'm5 j:u1 j:u2 j:u3 j:u4 j:u5 j:u6 edited2 deleted3 m6 m7 m8 m9'
          . ' j:reader m10',
    6  => 'j:u1 j:u2 j:u3 j:u4 j:u5 j:u6 edited2 deleted3 m6 m7 m8 m9'
          . ' j:reader m10',
    9  => 'j:u4 j:u5 j:u6 edited2 deleted3 m6 m7 m8 m9 j:reader m10',
    14 => 'm6 m7 m8 m9 j:reader m10',
    18 => 'j:reader m10',
    0  => 'j:alice m1 m2 m3 m4 m5 j:u1 j:u2 j:u3 j:u4 j:u5 j:u6 edited2 deleted3'
          . ' m6 m7 m8 m9 j:reader m10',
);
my $n = 0;
for my $since (sort { $a <=> $b } keys %want) {
    my $c = login($ng, 'alice');
    my ($ev, $reply) = join_room($c, $room, since_rev => $since);
    is kinds(@$ev), $want{$since}, "since_rev $since: the events after it";
    is_deeply revs(@$ev), [$since + 1 .. 20], '... revs in order, once each'
        or diag explain revs(@$ev);
    ok $reply && !$reply->{truncated}, '... not truncated';
}
my $c4 = login($url4, 'alice');
my ($ev4, $reply4) = join_room($c4, $room, since_rev => 5);
is_deeply revs(@$ev4), [17 .. 20], 'capped at 4 from before the burst:'
    . ' the newest 4, 17 to 20';
is $reply4 && $reply4->{truncated}, 1, '... truncated';

# the statement itself against a plain filter on rev
sub log_sql {
    my ($order) = @_;
    open my $f, '<', repo_root() . '/src/ngx_chat_sql.h' or die $!;
    my $h = do { local $/; <$f> };
    my $lit = sub { join '', $_[0] =~ /"((?:[^"\\]|\\.)*)"/g };
    my ($cols) = $h =~ /#define NGX_CHAT_SQL_MESSAGE_COLUMNS\s+\\\n(.*?)\n\n/s;
    my ($log) = $h =~ /#define NGX_CHAT_SQL_LOG\(order\)\s+\\\n(.*?)\n\n/s;
    die "no NGX_CHAT_SQL_LOG\n" unless $log;
    $cols = $lit->($cols);
    $log =~ s/NGX_CHAT_SQL_MESSAGE_COLUMNS/"$cols"/g;
    $log =~ s/\border\b(?=\s*")/"$order"/g;
    return $lit->($log);
}

# the rows of both for since 0 .. last_rev, targets last_rev and the
# greatest bigint, limits 1, 3 and 1000, both orders; the mismatches
sub compare {
    my $checks = '';
    for my $order (qw(asc desc)) {
        my $log = log_sql($order);
        $log =~ s/'/''/g;
        $checks .= <<SQL;
    for s in 0 .. v_last loop
        foreach t in array array[v_last, 9223372036854775807] loop
            foreach l in array array[1, 3, 1000] loop
                -- a short member row (schema 18) as the module builds it
                execute 'select coalesce(string_agg(coalesce(event,'
                    || ' case when user_id is not null then'
                    || ' chat_member_event_text(''$room'', rev, user_id,'
                    || ' action::"char")::text end, '''')'
                    || ' || ''/'' || coalesce(seq::text, '''') || ''/'''
                    || ' || coalesce(body, '''') || ''/'' || rev, '',''), '''')'
                    || ' from ($log) x' into got using '$room', s, t, l;
                execute 'select coalesce(string_agg(coalesce(event, '''')'
                    || ' || ''/'' || coalesce(seq::text, '''') || ''/'''
                    || ' || coalesce(body, '''') || ''/'' || rev, '',''), '''')'
                    || ' from (select * from (select null::text as event,'
                    || ' seq, body, rev from messages where room_id = \$1'
                    || ' and rev > \$2 and rev <= \$3 union all'
                    || ' select event::text, null, null, rev'
                    || ' from chat_room_events where room_id = \$1'
                    || ' and rev > \$2 and rev <= \$3) l'
                    || ' order by rev $order limit \$4) x'
                    into want using '$room', s, t, l;
                n := n + 1;
                if got is distinct from want then
                    bad := bad || format('%s since %s target %s limit %s: %s'
                                         ' instead of %s; ', '$order', s, t,
                                         l, got, want);
                end if;
            end loop;
        end loop;
    end loop;
SQL
    }
    return psql($pg, <<SQL);
create function pg_temp.compare() returns text language plpgsql as \$f\$
declare
    v_last bigint := (select last_rev from rooms where id = '$room');
    got text; want text; bad text := ''; n integer := 0;
    s bigint; t bigint; l integer;
begin
$checks
    return n || ' ' || bad;
end \$f\$;
select pg_temp.compare();
SQL
}

is compare(), '252 ', 'the statement answers as a filter on rev:'
    . ' every since_rev, target, limit, order';

# retention deletes the oldest messages: the bound only narrows from above
psql($pg, "delete from messages where room_id = '$room' and seq <= 4");
is compare(), '252 ', 'and so after the oldest 4 messages are deleted';
my $c0 = login($ng, 'alice');
my ($ev0) = join_room($c0, $room, since_rev => 0);
is kinds(@$ev0), 'j:alice m5 j:u1 j:u2 j:u3 j:u4 j:u5 j:u6 edited2 deleted3'
    . ' m6 m7 m8 m9 j:reader m10', 'since_rev 0 replays what is kept';

is_deeply [$ng->crashes], [], 'no worker crashed';
$ng->stop;
done_testing;
