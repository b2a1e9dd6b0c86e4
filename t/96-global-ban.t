# Global bans (protocol.md sections 7 and 8): two nginx instances of two
# workers each on one Redis (this test's own) and PostgreSQL.  An admin's
# POST /users/{user}/ban closes the user's live connections on both with
# 4003 within 1 s; new connections are refused (HTTP 403 on the upgrade
# with a header token, 4003 after an auth frame, 403 over REST) until
# DELETE /users/{user}/ban or "until".  The ban is kept in PostgreSQL and
# written to Redis again when Redis comes back empty.  Malformed messages
# on the users' control channel are ignored.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use ChatTest;

my $redis = start_redis();
my @ng = map { start_nginx(workers => 2, listen => 'reuseport',
                           redis => $redis->addr) } 1 .. 2;
my $pg = ChatTest::backends()->{conninfo};
my $u = sprintf 'bn%d%04x', $$, int rand 65536;
my $admin = token(sub => "$u-admin", roles => ['admin']);

for my $n (@ng) {
    wait_until(sub { api($n, 'GET', '/health')->{status} == 200 }, 10, 0.05);
}

sub refused_everywhere {
    my ($what) = @_;
    for my $i (0, 1) {
        my $res = ws_connect($ng[$i]->ws_url, token => token(sub => $u));
        ok !$res->isa('ChatTest::WS') && $res->code == 403,
            "$what: instance $i: upgrade with a header token: 403";
        my $c = ws_connect($ng[$i]->ws_url);
        $c->send_json({ type => 'auth', id => 1, token => token(sub => $u) });
        is $c->close_code(3), 4003, "$what: instance $i: auth frame: 4003";
        is_api_error(api($ng[$i], 'GET', '/rooms', user => $u), 403,
                     'forbidden', "$what: instance $i: REST 403");
    }
}

sub accepted_everywhere {
    my ($what) = @_;
    for my $i (0, 1) {
        ok eval { login($ng[$i], $u)->close; 1 },
            "$what: instance $i: accepted" or diag $@;
    }
}

# ---- who may
is_api_error(api($ng[0], 'POST', "/users/$u/ban", user => $u), 403,
             'forbidden', 'a user may not ban');
is_api_error(api($ng[0], 'POST', "/users/$u/ban", token => $admin,
                 json => { until => 5 }), 400, 'bad_request',
             'an until in the past');
is_api_error(api($ng[0], 'DELETE', "/users/$u/ban", user => $u), 403,
             'forbidden', 'a user may not unban');

# ---- malformed messages on the users' control channel change nothing
my @kept = map { login($ng[$_], $u) } 0, 1;
for my $bad ("B $u", "B $u -1", "B $u 1x", "X $u 0", "J $u", "U $u x",
             "B ${u}\" 0", "B $u 99999999999999999999", "B") {
    ChatTest::Env::sh('redis-cli', '-p', $redis->port, 'PUBLISH',
                      'chat:users:control', $bad);
}
for my $i (0, 1) {
    ok wait_until(sub {
        my @l = $ng[$i]->error_log =~ /malformed message on the users channel/g;
        @l >= 2 * 9;
    }, 5, 0.05), "instance $i: each malformed message ignored and logged "
                 . 'by both workers';
    ok $kept[$i]->request({ type => 'ping' }),
        "instance $i: the user's connection stays open";
    $kept[$i]->close;
}
accepted_everywhere('after malformed control messages');

# ---- ban: live connections close with 4003 on both instances
my @live = map { login($ng[$_ % 2], $u) } 0 .. 5;
my $other = login($ng[1], "$u-x");
my $t0 = time;
my $r = api($ng[0], 'POST', "/users/$u/ban", token => $admin,
            json => { reason => 'spam' });
is $r->{status}, 204, 'an admin bans: 204';
is_deeply [map { $_->close_code(3) } @live], [(4003) x @live],
    'every connection of the user closed with 4003 on both instances';
my $took = time - $t0;
cmp_ok $took, '<', 1.5, "within about 1 s (${took}s incl. the call)";
ok $other->request({ type => 'ping' }), "another user's connection stays";
is psql($pg, "select reason || ' ' || by_user || ' ' "
           . "|| coalesce(until::text, 'none') "
           . "from chat_user_bans where user_id = '$u'"),
    "spam $u-admin none", 'kept in PostgreSQL: reason, by whom, no until';
ok grep({ $_->error_log =~ /"\Q$u\E-admin" banned "\Q$u\E" globally/ } @ng),
    'logged: who, whom, until';
refused_everywhere('banned');

# ---- Redis restarted empty: the ban is written to it again
$redis->restart;
ok wait_until(sub {
    eval { ChatTest::Env::sh('redis-cli', '-p', $redis->port, 'EXISTS',
                             "chat:uban:$u") } =~ /^1/
}, 15, 0.1), 'after a Redis restart the ban is in Redis again';
for my $n (@ng) {
    wait_until(sub { api($n, 'GET', '/health')->{status} == 200 }, 10, 0.05);
}
refused_everywhere('after the Redis restart');

# an instance started now learns it too
my $late = start_nginx(workers => 1, redis => $redis->addr);
wait_until(sub { api($late, 'GET', '/health')->{status} == 200 }, 10, 0.05);
my $res = ws_connect($late->ws_url, token => token(sub => $u));
ok !$res->isa('ChatTest::WS') && $res->code == 403,
    'a later instance refuses the banned user';
$late->stop;

# ---- lifted
$r = api($ng[1], 'DELETE', "/users/$u/ban", token => $admin);
is $r->{status}, 204, 'DELETE /users/{user}/ban: 204';
is psql($pg, "select count(*) from chat_user_bans where user_id = '$u'"),
    0, 'gone from PostgreSQL';
accepted_everywhere('lifted');

# ---- until: refused, then accepted once it has passed
# 4 s ahead: the six refusals below must all come before it passes
my $until = int(time * 1000) + 4000;
$r = api($ng[1], 'POST', "/users/$u/ban", token => $admin,
         json => { until => $until });
is $r->{status}, 204, 'a ban with until: 204';
refused_everywhere('until ahead');
ok wait_until(sub { time * 1000 > $until + 50 }, 7, 0.05), 'until passed';
accepted_everywhere('until passed');

close_all($other);
$_->stop for @ng;
done_testing;
