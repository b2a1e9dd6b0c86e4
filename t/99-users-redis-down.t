# Revocations and bans while Redis is down (docs/protocol.md, Revocation
# and bans): tokens are checked against what each worker heard and the
# bans in PostgreSQL, so other users still connect while revoked tokens
# and banned users stay refused; revoking answers 503; a ban made
# meanwhile is kept in PostgreSQL and takes effect on every worker, live
# connections included, once Redis is back.  An instance started while
# Redis is down knows the bans from PostgreSQL.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use ChatTest;

my $redis = start_redis();
my $ng = start_nginx(workers => 2, listen => 'reuseport',
                     redis => $redis->addr);
my $u = sprintf 'rd%d%04x', $$, int rand 65536;
my ($alice, $mallory, $eve, $bob) = map { "$u-$_" } qw(a m e b);
my $admin = token(sub => "$u-admin", roles => ['admin']);

sub health_redis {
    my ($n, $want) = @_;
    return wait_until(sub {
        (api($n, 'GET', '/health')->{json}{redis} // '') eq $want
    }, 15, 0.05);
}

sub code_of {
    my ($n, $tok) = @_;
    my $res = ws_connect($n->ws_url, token => $tok);
    if ($res && $res->isa('ChatTest::WS')) {
        $res->close;
        return 101;
    }
    return $res ? $res->code : 0;
}

health_redis($ng, 'up');
my $old = token(sub => $alice, iat => time - 10);
is api($ng, 'POST', "/users/$alice/revoke", token => $old)->{status}, 204,
    'alice revokes her tokens';
is api($ng, 'POST', "/users/$mallory/ban", token => $admin)->{status}, 204,
    'mallory is banned';
my @eve = map { login($ng, $eve) } 1 .. 4;

$redis->stop;
ok health_redis($ng, 'down'), 'Redis is down';

is code_of($ng, token(sub => $bob)), 101, 'another user still connects'
    for 1 .. 3;
is api($ng, 'GET', '/rooms', user => $bob)->{status}, 200,
    'and calls the REST API';
is code_of($ng, $old), 401, "the revoked token stays refused"
    for 1 .. 3;
is code_of($ng, token(sub => $mallory)), 403, 'the banned user too'
    for 1 .. 3;
is_api_error(api($ng, 'POST', "/users/$bob/revoke", user => $bob), 503,
             'unavailable', 'revoking needs Redis: 503');

# a ban while Redis is down: kept, and answered 503
is_api_error(api($ng, 'POST', "/users/$eve/ban", token => $admin), 503,
             'unavailable', 'a ban while Redis is down: 503');
is psql(ChatTest::backends()->{conninfo},
        "select count(*) from chat_user_bans where user_id = '$eve'"), 1,
    'but kept in PostgreSQL';

# an instance started now knows the bans from PostgreSQL
my $late = start_nginx(workers => 1, redis => $redis->addr);
ok wait_until(sub { code_of($late, token(sub => $mallory)) == 403 }, 10,
              0.1), 'an instance started while Redis is down refuses the '
    . 'banned user';
is code_of($late, token(sub => $bob)), 101, 'and accepts another';
$late->stop;

# Redis back: the ban made meanwhile reaches the live connections
$redis->start;
ok health_redis($ng, 'up'), 'Redis is back';
is_deeply [map { $_->close_code(5) } @eve], [(4003) x @eve],
    "the ban made while Redis was down closes the user's connections";
is code_of($ng, token(sub => $eve)), 403, 'and refuses new ones';
is code_of($ng, token(sub => $bob)), 101, 'others still connect';

is api($ng, 'DELETE', "/users/$eve/ban", token => $admin)->{status}, 204,
    'lifted';
is api($ng, 'DELETE', "/users/$mallory/ban", token => $admin)->{status},
    204, 'lifted';
$ng->stop;
done_testing;
