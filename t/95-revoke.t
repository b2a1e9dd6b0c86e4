# Revocation across hosts (protocol.md section 8): two nginx instances of
# two workers each on the same Redis and PostgreSQL.  POST
# /users/{user}/revoke on one closes the user's live connections on both
# with 4001 within 1 s, and every token issued in or before that second
# (or without iat) is then refused by both: handshake 401, auth frame
# 4001, REST 401.  One token is revoked by its jti; self or admin only.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use ChatTest;

my @ng = map { start_nginx(workers => 2, listen => 'reuseport') } 1 .. 2;
my $u = sprintf 'rv%d%04x', $$, int rand 65536;
my $v = "$u-v";

# every worker subscribed: a REST call through each instance answers
for my $n (@ng) {
    wait_until(sub { api($n, 'GET', '/health')->{status} == 200 }, 10, 0.05);
}

# the user's connections on both instances (several per instance, so
# that both workers of each are likely to hold some), and another user's
my $old = token(sub => $u, iat => time - 10);
my @live = map { login($ng[$_ % 2], $u, token => $old) } 0 .. 5;
my $other = login($ng[1], $v);

# ---- only the user or an admin
is_api_error(api($ng[0], 'POST', "/users/$u/revoke", user => $v), 403,
             'forbidden', 'another user may not revoke');
is_api_error(api($ng[0], 'POST', "/users/$u/revoke", no_auth => 1), 401,
             'unauthenticated', 'revoke needs a token');
is_api_error(api($ng[0], 'POST', "/users/$u/revoke", user => $u,
                 json => { jti => 5 }), 400, 'bad_request',
             'a jti is a string');
ok $_->is_open, 'still open after refused revokes' for @live[0, 1];

# ---- revoke on instance 0: everything of the user closes on both
my $t0 = time;
my $r = api($ng[0], 'POST', "/users/$u/revoke", token => $old);
is $r->{status}, 204, 'revoke by the user: 204';
my @codes = map { $_->close_code(3) } @live;
my $took = time - $t0;
is_deeply \@codes, [(4001) x @live],
    'every connection of the user closed with 4001 on both instances';
cmp_ok $took, '<', 1.5, "within about 1 s (${took}s incl. the call)";
ok $other->is_open, "another user's connection stays";
my $pong = $other->request({ type => 'ping' });
is $pong && $pong->{type}, 'pong', 'and is served';

# ---- tokens issued in or before that second are refused everywhere
# issued in the second the revoke began (the server's clock read it later)
my $same = token(sub => $u, iat => int $t0);
my $noiat = token(sub => $u, no_iat => 1);
for my $i (0, 1) {
    for my $t ([old => $old], [same => $same], [noiat => $noiat]) {
        my $res = ws_connect($ng[$i]->ws_url, token => $t->[1]);
        ok !$res->isa('ChatTest::WS') && $res->code == 401,
            "instance $i: handshake with the $t->[0] token: 401";
        is_api_error(api($ng[$i], 'GET', '/rooms', token => $t->[1]), 401,
                     'unauthenticated', "instance $i: REST with $t->[0]");
    }
    my $c = ws_connect($ng[$i]->ws_url);
    $c->send_json({ type => 'auth', id => 1, token => $old });
    is $c->close_code(3), 4001, "instance $i: auth frame with it: 4001";
}

# ---- a token issued after it works on both
my $new = token(sub => $u, iat => int(time) + 1);
for my $i (0, 1) {
    my $c = eval { login($ng[$i], $u, token => $new) };
    ok $c, "instance $i: a newer token is accepted" or diag $@;
    is api($ng[$i], 'GET', '/rooms', token => $new)->{status}, 200,
        "instance $i: REST with it";
    my $e = $c && $c->request({ type => 'refresh', token => $old });
    is $e && $e->{code}, 'unauthenticated',
        "instance $i: a refresh with a revoked token is refused";
    ok $c && $c->request({ type => 'ping' }), 'and the connection stays';
    $c->close if $c;
}

# ---- one token by its jti, by an admin; the user's other token stays
my $iat = int(time) + 2;
my $j1 = token(sub => $u, iat => $iat, jti => "$u-j1");
my $j2 = token(sub => $u, iat => $iat, jti => "$u-j2");
my @j1 = map { login($ng[$_], $u, token => $j1) } 0, 1;
my @j2 = map { login($ng[$_], $u, token => $j2) } 0, 1;
my $admin = token(sub => "$u-admin", roles => ['admin']);
$t0 = time;
$r = api($ng[1], 'POST', "/users/$u/revoke", token => $admin,
         json => { jti => "$u-j1", exp => int(time) + 3600 });
is $r->{status}, 204, 'an admin revokes one token by its jti: 204';
is_deeply [map { $_->close_code(3) } @j1], [4001, 4001],
    'its connections closed with 4001 on both instances';
cmp_ok time - $t0, '<', 1.5, 'within about 1 s';
ok $_->request({ type => 'ping' }), "the user's other token's connection "
    . 'stays' for @j2;
for my $i (0, 1) {
    my $res = ws_connect($ng[$i]->ws_url, token => $j1);
    ok !$res->isa('ChatTest::WS') && $res->code == 401,
        "instance $i: the revoked jti is refused";
    my $c = eval { login($ng[$i], $u, token => $j2) };
    ok $c, "instance $i: the other jti is accepted";
    $c->close if $c;
}

# ---- an instance started after the revocations learns them from Redis
my $late = start_nginx(workers => 1);
wait_until(sub { api($late, 'GET', '/health')->{status} == 200 }, 10, 0.05);
for my $t ([old => $old], [jti => $j1]) {
    my $res = ws_connect($late->ws_url, token => $t->[1]);
    ok !$res->isa('ChatTest::WS') && $res->code == 401,
        "a later instance refuses the $t->[0] token";
}
ok eval { login($late, $u, token => $j2)->close; 1 },
    'and accepts the valid one';
$late->stop;

close_all(@j2, $other);
$_->stop for @ng;
done_testing;
