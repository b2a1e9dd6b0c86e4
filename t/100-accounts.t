# Accounts (protocol.md section 10, chat_accounts on): register, login,
# refresh and logout over the REST API; what they answer to bad input,
# taken ids and wrong passwords; the tokens they issue work for the
# WebSocket and the REST API, carry the claims docs/protocol.md names, and
# are signed by chat_accounts_key (verified without a chat_jwt_key of it);
# a registered user can be the target of POST /dm; passwords are stored
# only as bcrypt hashes and never logged.  Without chat_accounts the calls
# are not there (404).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;
use Mojo::JSON ();
use MIME::Base64 ();
use ChatTest::Accounts qw(start_accounts auth claims_of new_user);

my $ng = start_accounts(workers => 2);
my $pg = backends()->{conninfo};
my $u = new_user('a');
my $pw = "pw-$u-secret";

# ---- register
my $r = auth($ng, 'register', { user => $u, password => $pw,
                                name => 'Ann Example' });
is $r->{status}, 201, 'register: 201';
is_deeply $r->{json}, { user => $u }, 'answers {"user"}';

is_api_error(auth($ng, 'register', { user => $u, password => 'another-pw' }),
             409, 'conflict', 'the same id again: 409');
is_api_error(auth($ng, 'register', { user => uc $u, password => $pw }),
             409, 'conflict', 'the id in other case: 409');

# an id known from tokens of the operator's issuer is not for the taking
my $known = new_user('k');
api($ng, 'GET', '/rooms', user => $known);
wait_until(sub {
    psql($pg, "select count(*) from chat_users where user_id = '$known'")
        eq '1'
}, 10);
is_api_error(auth($ng, 'register', { user => $known, password => $pw }),
             409, 'conflict', 'a user already known from tokens: 409');

# ---- bad bodies: 400, and nothing registered
my $v = new_user('v');
for my $case (
    [ 'not JSON' => body => '{"user":' ],
    [ 'not an object' => json => [$v, $pw] ],
    [ 'no password' => json => { user => $v } ],
    [ 'no user' => json => { password => $pw } ],
    [ 'user id not valid' => json => { user => "$v!", password => $pw } ],
    [ 'user id too long' => json => { user => 'u' x 65, password => $pw } ],
    [ 'password a number' => json => { user => $v, password => 12345678 } ],
    [ 'password too short' => json => { user => $v, password => '1234567' } ],
    [ 'password too long' => json => { user => $v,
                                       password => 'p' x 1025 } ],
    [ 'password with NUL' => body => qq({"user":"$v",)
                                     . q("password":"abcd\u0000efgh"}) ],
    [ 'name not a string' => json => { user => $v, password => $pw,
                                       name => [1] } ],
    [ 'name too long' => json => { user => $v, password => $pw,
                                   name => 'n' x 129 } ],
    [ 'duplicate member' => body => qq({"user":"$v","user":"x",)
                                    . qq("password":"$pw"}) ],
    [ 'empty body' => body => '' ],
) {
    my ($what, $kind, $body) = @$case;
    is_api_error(auth($ng, 'register', undef, $kind => $body), 400,
                 'bad_request', "register, $what: 400");
}
is psql($pg, "select count(*) from chat_accounts where user_id = '$v'"), '0',
    'and none of them registered anything';
my $ok = auth($ng, 'register', { user => $v, password => 'p' x 1024 });
is $ok->{status}, 201, 'a password of 1024 bytes is fine';

is_api_error(auth($ng, 'login', { user => $u }), 400, 'bad_request',
             'login without a password: 400');
is_api_error(auth($ng, 'refresh', { refresh_token => 5 }), 400,
             'bad_request', 'refresh with a number: 400');
is_api_error(auth($ng, 'refresh', {}), 400, 'bad_request',
             'refresh without a token: 400');

# a GET is not a call of theirs
is api($ng, 'GET', '/auth/login', no_auth => 1)->{status}, 405,
    'GET /auth/login: 405';

# ---- login
my $wrong = auth($ng, 'login', { user => $u, password => "$pw-not" });
is_api_error($wrong, 401, 'unauthenticated', 'a wrong password: 401');
my $nobody = auth($ng, 'login', { user => new_user('n'), password => $pw });
is_api_error($nobody, 401, 'unauthenticated', 'an unknown user: 401');
is $nobody->{body}, $wrong->{body},
    'the same answer for an unknown user as for a wrong password';

my $l = auth($ng, 'login', { user => $u, password => $pw });
is $l->{status}, 200, 'login: 200';
is_deeply [sort keys %{ $l->{json} // {} }],
    [qw(access_token expires_at refresh_token)], 'with the three members';
my $at = $l->{json}{access_token};
my $c = claims_of($at);
is $c->{sub}, $u, 'sub: the user';
is $c->{name}, 'Ann Example', 'name: as registered';
ok $c->{iat} && abs($c->{iat} - time) < 5, 'iat: now';
is $c->{exp}, $l->{json}{expires_at}, 'expires_at is the exp';
is $c->{exp} - $c->{iat}, 900, 'the access token lives 15 minutes';
like $c->{sid}, qr/^[0-9a-f]{32}$/, 'sid: the session';
is $c->{jti}, "$c->{sid}.1", 'jti: the session and its generation';
ok !exists $c->{iss} && !exists $c->{aud}, 'no iss or aud unless set';
like $l->{json}{refresh_token}, qr/^[A-Za-z0-9_-]{43}$/,
    'the refresh token: 32 random bytes, base64url';

# ---- the token works: REST, WebSocket (header and auth frame)
is api($ng, 'GET', '/rooms', token => $at)->{status}, 200,
    'REST with the access token';
my $ws = eval { login($ng, $u, token => $at) };
ok $ws, 'a WebSocket with it in the Authorization header' or diag $@;
is $ws && $ws->{welcome}{user}, $u, 'welcome names the user';
is $ws && $ws->{welcome}{expires_at}, $c->{exp}, 'and its exp';
my $ws2 = ws_connect($ng->ws_url);
$ws2->send_json({ type => 'auth', id => 1, token => $at });
my $w = $ws2->wait_for(sub { ($_->{type} // '') eq 'welcome' }, 5);
is $w && $w->{user}, $u, 'and in a first-frame auth';

# a token that merely looks like one of ours is refused
my $forged = token(sub => $u, claims => { sid => $c->{sid} },
                   secret => "x" x 40);
is_api_error(api($ng, 'GET', '/rooms', token => $forged), 401,
             'unauthenticated', 'a token signed with another key: 401');

# ---- a registered user is a known user: a DM with them opens at once
my $friend = new_user('f');
is auth($ng, 'register', { user => $friend, password => $pw })->{status},
    201, 'another user registers';
my $dm = api($ng, 'POST', "/dm/$friend", token => $at);
ok $dm->{status} == 201 || $dm->{status} == 200,
    'POST /dm/{registered user}: the room (before they ever logged in)'
    or diag $dm->{body};
is $dm->{json}{room}, join(':', 'dm', sort { $a cmp $b } $u, $friend),
    'the DM room of the two';

# ---- refresh: a new access token and a new refresh token
my $f = auth($ng, 'refresh', { refresh_token => $l->{json}{refresh_token} });
is $f->{status}, 200, 'refresh: 200';
is_deeply [sort keys %{ $f->{json} // {} }],
    [qw(access_token expires_at refresh_token)], 'the same shape';
isnt $f->{json}{refresh_token}, $l->{json}{refresh_token},
    'with a new refresh token';
my $c2 = claims_of($f->{json}{access_token});
is $c2->{sid}, $c->{sid}, 'in the same session';
is $c2->{jti}, "$c->{sid}.2", 'the next generation';
is api($ng, 'GET', '/rooms', token => $f->{json}{access_token})->{status},
    200, 'the new access token works';

# ---- logout: 204; the session's tokens are refused from then on
is_api_error(auth($ng, 'logout', undef), 401, 'unauthenticated',
             'logout without a token: 401');
is_api_error(auth($ng, 'logout', undef, token => token(sub => $u)), 400,
             'bad_request', 'logout with a token of no session: 400');
is auth($ng, 'logout', undef, token => $f->{json}{access_token})->{status},
    204, 'logout: 204';
is $ws->close_code(3), 4001,
    'the connection with an access token of the session closes with 4001';
is $ws2->close_code(3), 4001, 'the one authenticated by a frame too';
for my $t ([first => $at], [refreshed => $f->{json}{access_token}]) {
    is_api_error(api($ng, 'GET', '/rooms', token => $t->[1]), 401,
                 'unauthenticated', "the $t->[0] access token: 401");
}
is_api_error(auth($ng, 'refresh',
                  { refresh_token => $f->{json}{refresh_token} }),
             401, 'unauthenticated', 'its refresh token: 401');
my $l2 = auth($ng, 'login', { user => $u, password => $pw });
is $l2->{status}, 200, 'a new login works';
is api($ng, 'GET', '/rooms', token => $l2->{json}{access_token})->{status},
    200, 'and its token too (another session)';
is_api_error(auth($ng, 'refresh', { refresh_token => 'x' x 43 }), 401,
             'unauthenticated', 'an unknown refresh token: 401');

# ---- passwords: hashes only, never logged
my $hash = psql($pg, "select pass_hash from chat_accounts where user_id = '$u'");
like $hash, qr/^\$2a\$04\$/, 'the stored password is a bcrypt hash (cost 4)';
is psql($pg, "select count(*) from chat_accounts where pass_hash like "
             . "'%$pw%' or name like '%$pw%'"), '0',
    'the password is nowhere in the accounts table';
is psql($pg, "select count(*) from chat_account_sessions "
             . "where user_id = '$u' and refresh_hash::text like '%"
             . substr($l2->{json}{refresh_token}, 0, 20) . "%'"), '0',
    'refresh tokens are kept as hashes';
$ws2->close;
$ng->stop;
my $log = $ng->error_log;
unlike $log, qr/\Q$pw\E/, 'the password is not in the error log';
like $log, qr/account "\Q$u\E" registered/, 'though the registration is';

# ---- iss and aud, when configured, are in the tokens
my $iss = start_accounts(workers => 1,
                         http => "chat_jwt_issuer https://chat.example;\n"
                               . "chat_jwt_audience chat-test;");
my $ia = auth($iss, 'login', { user => $u, password => $pw });
is $ia->{status}, 200, 'login with an issuer and audience set';
my $ic = claims_of($ia->{json}{access_token});
is "$ic->{iss} $ic->{aud}", 'https://chat.example chat-test',
    'the token carries them';
is api($iss, 'GET', '/rooms', token => $ia->{json}{access_token})->{status},
    200, 'and is accepted';
$iss->stop;

# ---- an ES256 private key signs; its public half verifies
my $keys = make_keys();
my $es = start_accounts(workers => 1,
                        http => "chat_accounts_key ES256 $keys->{ec};",
                        accounts_http => '');
my $el = auth($es, 'login', { user => $u, password => $pw });
is $el->{status}, 200, 'login with an ES256 accounts key';
my ($hdr) = split /\./, $el->{json}{access_token} // '';
is eval { Mojo::JSON::decode_json(MIME::Base64::decode_base64url($hdr)) }
    ->{alg}, 'ES256', 'the token is ES256';
is api($es, 'GET', '/rooms', token => $el->{json}{access_token})->{status},
    200, 'and is accepted';
$es->stop;

# ---- accounts off: the calls are not there
my $off = start_nginx(workers => 1);
for my $call (qw(register login refresh logout)) {
    is_api_error(auth($off, $call, { user => $u, password => $pw }), 404,
                 'not_found', "without chat_accounts, /auth/$call: 404");
}
is_api_error(api($off, 'GET', '/auth/login', no_auth => 1), 404, 'not_found',
             'any method: 404');
$off->stop;

done_testing;
