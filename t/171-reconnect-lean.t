# What a storm of reconnects costs, kept exact (sql/014 and the count
# script of a loop tick's connections, ngx_chat_user_limits.c):
# - chat_members_open answers the joins of members as version 13's
#   statement did (members, non-members, mutes in force or ended, rooms
#   that do not exist), reaching rooms by key: no sequential scan of
#   rooms, however many there are;
# - chat_users_seen writes nothing for a user recorded in the last hour
#   under the same name, and writes a new user, a new name, or a
#   last_seen older than an hour;
# - upgrades of one user sent at once to one worker (checked and counted
#   together) are held to chat_user_connections_max exactly;
# - the scripts go by EVALSHA once a connection has sent them, and still
#   count after SCRIPT FLUSH (NOSCRIPT: sent again by EVAL).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use ChatTest;

$SIG{PIPE} = 'IGNORE';

# --- chat_members_open against version 13's statement --------------------

my $old = ChatTest::Backends::scratch_db('chat_rc13');
my $new = ChatTest::Backends::scratch_db('chat_rc14');
ChatTest::Backends::migrate($old, 1, 13);
ChatTest::Backends::migrate($new, 1, 14);

my $setup = <<'SQL';
insert into rooms (id, kind, private, created_by, last_seq, last_rev)
    values ('r1', 'channel', false, 'a', 7, 9),
           ('r2', 'channel', true, 'a', 3, 4);
insert into rooms (id, kind, private, created_by)
    select 'many' || g, 'channel', false, 'a' from generate_series(1, 3000) g;
insert into members (room_id, user_id, role) values
    ('r1', 'a', 'owner'), ('r1', 'muted', 'member'), ('r1', 'past', 'member'),
    ('r2', 'a', 'owner'), ('r2', 'b', 'member');
insert into chat_room_mutes (room_id, user_id, until, by_user, at) values
    ('r1', 'muted', null, 'a', 0), ('r1', 'past', 1, 'a', 0),
    ('r2', 'b', 9000000000000, 'a', 0);
analyze rooms;
SQL
ChatTest::psql($_, $setup) for $old, $new;

my $batch = '[{"room":"r1","user":"a"},{"room":"r1","user":"nobody"},'
          . '{"room":"r1","user":"muted"},{"room":"nope","user":"a"},'
          . '{"room":"r1","user":"past"},{"room":"r2","user":"b"},'
          . '{"room":"r2","user":"a"},{"room":"r1","user":"a"}]';

# version 13's statement, as the module ran it
my $v13 = <<SQL;
select (o.n - 1)::integer, r.last_seq, r.last_rev,
       (select coalesce(m.until, 9223372036854775807)
          from chat_room_mutes m
         where m.room_id = mb.room_id and m.user_id = mb.user_id
           and (m.until is null or m.until > chat_now_ms()))
  from jsonb_array_elements('$batch'::jsonb) with ordinality o(e, n)
  join members mb on mb.room_id = o.e->>'room'
                 and mb.user_id = o.e->>'user'
  join rooms r on r.id = mb.room_id
 order by 1
SQL

my $want = ChatTest::psql($old, $v13);
is ChatTest::psql($new, "select * from chat_members_open('$batch')"), $want,
    'chat_members_open: the rows of version 13, row for row';
is join(',', map { (split /\|/)[0] } split /\n/, $want), '0,2,4,5,6,7',
    'the members among the batch, by position';

my $scans = ChatTest::psql($new, <<SQL);
begin;
select count(*) from chat_members_open('$batch');
select seq_scan from pg_stat_xact_user_tables where relname = 'rooms';
commit;
SQL
is((split /\n/, $scans)[-1], 0,
   'chat_members_open reads no room but by its key (3002 rooms)');

# --- chat_users_seen ------------------------------------------------------

sub seen { ChatTest::psql($new, "select chat_users_seen('$_[0]')") }
sub row {
    ChatTest::psql($new, "select name, last_seen, xmin from chat_users "
                         . "where user_id = '$_[0]'");
}

seen('[{"user":"k1","name":"K"},{"user":"k2"}]');
my ($name, $ls, $xmin) = split /\|/, row('k1');
is $name, 'K', 'a new user is recorded with its name';
ok $ls > 0, 'and its last_seen';
ok row('k2'), 'a new user without a name is recorded';

seen('[{"user":"k1","name":"K"},{"user":"k1"}]');
is row('k1'), "K|$ls|$xmin",
    'seen again within the hour, same name or none: the row is not written';

seen('[{"user":"k1","name":"K2"}]');
my ($name2, $ls2, $xmin2) = split /\|/, row('k1');
is $name2, 'K2', 'a new name is written';
isnt $xmin2, $xmin, 'as a new row version';

ChatTest::psql($new, "update chat_users set last_seen = last_seen - 3600001 "
                     . "where user_id = 'k2'");
my (undef, $old_ls) = split /\|/, row('k2');
seen('[{"user":"k2"}]');
my (undef, $ls3) = split /\|/, row('k2');
cmp_ok $ls3, '>', $old_ls, 'a last_seen older than an hour is written';

# --- upgrades of one user at once, counted together ----------------------

my $redis = start_redis();
my $ng = start_nginx(workers => 1, redis => $redis->addr,
                     http => 'chat_user_connections_max 3;');
wait_until(sub { api($ng, 'GET', '/health')->{status} == 200 }, 10, 0.05);

sub rcli { my $out = `redis-cli -p @{[$redis->port]} @_`; chomp $out; $out }
sub evalsha_calls {
    my ($n) = rcli('info commandstats') =~ /cmdstat_evalsha:calls=(\d+)/;
    return $n // 0;
}

my $u = sprintf 'rc%d%04x', $$, int rand 65536;
my $tok = token(sub => $u);
my @socks;

for my $i (1 .. 8) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ng->port)
        or die "connect: $!";
    push @socks, $s;
}

# all written before any is read: one worker takes them in a tick or few
for my $s (@socks) {
    print $s "GET /chat/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
           . "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
           . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           . "Authorization: Bearer $tok\r\n\r\n";
}

my %status;
for my $s (@socks) {
    my $line = <$s>;
    my ($code) = ($line // '') =~ m{^HTTP/1\.1 (\d+)};
    $status{$code // 'none'}++;
}

is $status{101}, 3, 'upgrades at once: as many accepted as the cap';
is $status{429}, 5, 'and every other refused with 429';
cmp_ok evalsha_calls(), '>', 0, 'scripts sent once go by EVALSHA';

# Redis forgets its scripts: the next ones still check and count
is rcli('script flush'), 'OK', 'SCRIPT FLUSH';
my $v = "$u-f";
my @held;
for my $i (1 .. 3) {
    my $c = ws_connect($ng->ws_url, token => token(sub => $v));
    ok $c->isa('ChatTest::WS'), "after the flush: connection $i of 3";
    push @held, $c;
}
my $res = ws_connect($ng->ws_url, token => token(sub => $v));
ok !$res->isa('ChatTest::WS') && $res->code == 429,
    'after the flush: the fourth is refused with 429';
like rcli("hgetall chat:conns:$v"), qr/\A[^\n]+\n3\z/,
     'and Redis counts three, of this worker';

close $_ for @socks;
$_->close for @held;
$ng->stop;
done_testing;
