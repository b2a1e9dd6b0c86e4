# Sessions of accounts across hosts (protocol.md section 10): two nginx
# instances of two workers each on the same Redis and PostgreSQL.  A
# refresh token is good once (rotation, on either instance); presenting a
# spent one again revokes the whole session: its latest refresh token and
# every access token issued in it are refused on both instances, and live
# connections using them close with 4001 within 1 s on both.  The user's
# other sessions are not touched.  Two refreshes racing with the same
# token: at most one wins.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use Mojo::IOLoop;
use Mojo::UserAgent;
use ChatTest;
use ChatTest::Accounts qw(start_accounts auth claims_of new_user);

my @ng = map { start_accounts(workers => 2, listen => 'reuseport') } 1 .. 2;
for my $n (@ng) {
    wait_until(sub { api($n, 'GET', '/health')->{status} == 200 }, 10, 0.05);
}
my $u = new_user('s');
my $pw = "pw-$u";

is auth($ng[0], 'register', { user => $u, password => $pw })->{status}, 201,
    'registered on instance 0';

# ---- rotation: each refresh token once, on either instance
my $l = auth($ng[1], 'login', { user => $u, password => $pw });
is $l->{status}, 200, 'login on instance 1';
my @access = ($l->{json}{access_token});
my @refresh = ($l->{json}{refresh_token});
for my $i (1 .. 3) {
    my $f = auth($ng[$i % 2], 'refresh', { refresh_token => $refresh[-1] });
    is $f->{status}, 200, "refresh $i on instance " . ($i % 2);
    push @access, $f->{json}{access_token};
    push @refresh, $f->{json}{refresh_token};
}
my $sid = claims_of($access[0])->{sid};
is_deeply [map { claims_of($_)->{jti} } @access],
    [map { "$sid.$_" } 1 .. 4], 'one session, generations 1 to 4';

# another session of the same user, which must survive
my $other = auth($ng[0], 'login', { user => $u, password => $pw });
is $other->{status}, 200, 'a second session of the user';

# live connections with access tokens of the session, on both instances
my @live = map { login($ng[$_ % 2], $u, token => $access[$_]) } 0 .. 3;
my $keep = login($ng[1], $u, token => $other->{json}{access_token});

# ---- a spent refresh token presented again: the session is revoked
my $t0 = time;
is_api_error(auth($ng[0], 'refresh', { refresh_token => $refresh[1] }),
             401, 'unauthenticated', 'a spent refresh token: 401');
my @codes = map { $_->close_code(3) } @live;
my $took = time - $t0;
is_deeply \@codes, [(4001) x @live],
    'every connection using a token of the session closed with 4001, '
    . 'on both instances';
cmp_ok $took, '<', 1.5, "within about 1 s (${took}s incl. the call)";
ok $keep->request({ type => 'ping' }),
    'the connection of the other session stays and is served';

for my $i (0, 1) {
    is_api_error(auth($ng[$i], 'refresh', { refresh_token => $refresh[-1] }),
                 401, 'unauthenticated',
                 "instance $i: the session's newest refresh token: 401");
    for my $k (0, $#access) {
        is_api_error(api($ng[$i], 'GET', '/rooms', token => $access[$k]),
                     401, 'unauthenticated',
                     "instance $i: REST with access token $k: 401");
        my $res = ws_connect($ng[$i]->ws_url, token => $access[$k]);
        ok !$res->isa('ChatTest::WS') && $res->code == 401,
            "instance $i: handshake with access token $k: 401";
    }
    my $c = ws_connect($ng[$i]->ws_url);
    $c->send_json({ type => 'auth', id => 1, token => $access[-1] });
    is $c->close_code(3), 4001, "instance $i: auth frame with it: 4001";
    is api($ng[$i], 'GET', '/rooms',
           token => $other->{json}{access_token})->{status}, 200,
        "instance $i: the other session's token still works";
}
my $f = auth($ng[1], 'refresh',
             { refresh_token => $other->{json}{refresh_token} });
is $f->{status}, 200, "and the other session's refresh token";

# ---- two refreshes at once with one token: never two winners
my $s = auth($ng[0], 'login', { user => $u, password => $pw });
my $ua = Mojo::UserAgent->new;
my @res;
for my $i (0 .. 3) {
    $ua->post($ng[$i % 2]->api_url . '/auth/refresh',
              json => { refresh_token => $s->{json}{refresh_token} } => sub {
        my (undef, $tx) = @_;
        push @res, $tx->res->code;
    });
}
run_loop(sub { @res == 4 }, 10);
my $won = grep { $_ == 200 } @res;
cmp_ok $won, '<=', 1, "racing refreshes: at most one 200 (@res)";
is scalar(grep { $_ == 401 } @res), 4 - $won, 'the others 401';

close_all($keep);
$_->stop for @ng;
done_testing;
