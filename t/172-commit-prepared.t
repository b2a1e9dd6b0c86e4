# The group commit runs as a named statement each PostgreSQL connection
# prepares once: a schema change that alters the statement's result, or a
# connection lost and made again, costs no send (each is answered ok, in
# order, stored once), and logs no error.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

# a database of its own: the test replaces a function in it
my $db = ChatTest::Backends::scratch_db('chat_prepared');
ChatTest::Backends::migrate($db, 1, ChatTest::Backends::latest_schema());
sub sql { ChatTest::psql($db, $_[0]) }

# one connection: every commit goes through the same session
my $ng = start_nginx(pg => $db, workers => 1,
                     http => 'chat_postgres_pool 1;');
my $room = rand_room('prep');

ok wait_until(sub { $ng->pg_ready($db) }, 15, 0.05),
    'the pool is connected';

my $c = login($ng, 'alice');
is $c->request({ type => 'join', room => $room })->{type}, 'ok', 'join';

my $n = 0;
sub send_ok {
    my ($what) = @_;
    $n++;
    my $r = $c->request({ type => 'send', room => $room, body => "m$n",
                          id => "s$n" }, 10);
    is $r && $r->{type}, 'ok', "$what: the send is ok";
    is $r && $r->{seq}, $n, "$what: it takes seq $n";
}

send_ok("prepared on the first commit");
send_ok("executed");

# the statement's result changes type (seq as integer): the session's
# prepared statement can no longer run ("cached plan must not change
# result type"), nothing of it was done, and it is prepared again
my $swap = sql(<<'SQL');
begin;
alter function chat_send_batch_quota(jsonb, boolean, bigint, bigint)
    rename to chat_send_batch_quota_orig;
create function chat_send_batch_quota(p_batch jsonb, p_autocreate boolean,
    p_interval bigint, p_burst bigint)
returns table (i integer, status text, seq integer, msg_id bigint,
               ts bigint, rev bigint, retry_after bigint, joined boolean)
language sql as $$
    select q.i, q.status, q.seq::integer, q.msg_id, q.ts, q.rev,
           q.retry_after, q.joined
      from chat_send_batch_quota_orig(p_batch, p_autocreate, p_interval,
                                      p_burst) q
$$;
commit;
SQL
unlike $swap, qr/ERROR/, 'the function is replaced' or diag $swap;
send_ok("after the result's type changed");
send_ok("prepared again, executed");

# and back, in the other direction
my $back = sql(<<'SQL');
begin;
drop function chat_send_batch_quota(jsonb, boolean, bigint, bigint);
alter function chat_send_batch_quota_orig(jsonb, boolean, bigint, bigint)
    rename to chat_send_batch_quota;
commit;
SQL
unlike $back, qr/ERROR/, 'the function is restored' or diag $back;
send_ok("after the function was restored");

# a new session has nothing prepared
my $name = $ng->pg_name;
sql("select pg_terminate_backend(pid) from pg_stat_activity"
          . " where application_name = '$name'");
ok wait_until(sub { $ng->pg_ready($db) }, 15, 0.05),
    'the pool is connected again';
send_ok("on a new connection");
send_ok("executed on it");

chomp(my $rows = sql("select count(*) || ' ' || count(distinct seq) || ' '"
             . " || min(seq) || ' ' || max(seq) from messages"
             . " where room_id = '$room'"));
is $rows, "$n $n 1 $n", "every send stored once, seq 1 to $n";

my @bad = grep { /\[(?:error|alert)\].*(?:cached plan|prepare)/ }
          split /\n/, $ng->error_log;
is scalar(@bad), 0, 'no error about the prepared statement'
    or diag join "\n", @bad;

$ng->stop;
done_testing;
