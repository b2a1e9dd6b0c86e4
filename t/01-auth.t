# Protocol section 2 (authentication) and the auth/refresh/ping requests.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use ChatTest;

# the 1 s auth timeout on a location of its own: the other first-frame
# tests keep the default, so a busy machine does not time them out
my $ng = start_nginx(server => <<'CONF');
        location /chat/ws-1s {
            chat_ws;
            chat_auth_timeout 1s;
        }
CONF
my $port = $ng->port;

# ---- tokens expiring soon: connected and refreshed first, checked at the
# end (the rest of the file runs meanwhile)
my $soon = int(time) + 3;
my $exp_plain = ws_connect($ng->ws_url,
    token => token(sub => 'exp1', exp => $soon));
my $exp_refresh = ws_connect($ng->ws_url,
    token => token(sub => 'exp2', exp => $soon));
my $exp_other = ws_connect($ng->ws_url,
    token => token(sub => 'exp3', exp => $soon));
for ($exp_plain, $exp_refresh, $exp_other) {
    die "connect failed: " . ($@ // '') unless ref $_ && $_->isa('ChatTest::WS');
    is $_->recv(5)->{type}, 'welcome', 'short token: welcome';
}
my $new_exp = int(time) + 3600;
my $rr = $exp_refresh->request({ type => 'refresh',
    token => token(sub => 'exp2', exp => $new_exp) });
is $rr->{type}, 'ok', 'refresh: ok';
is $rr->{expires_at}, $new_exp, 'refresh: expires_at is the new exp';
$rr = $exp_other->request({ type => 'refresh',
    token => token(sub => 'someone-else', exp => $new_exp) });
ok !$rr || $rr->{type} eq 'error', 'refresh with another sub: rejected';
ok !($rr && $rr->{type} eq 'ok'), 'refresh with another sub: no ok';

# ---- header auth
{
    my $exp = int(time) + 3600;
    my $c = ws_connect($ng->ws_url, token => token(sub => 'alice', exp => $exp));
    ok $c && $c->isa('ChatTest::WS'), 'header auth upgrades';
    my $w = $c->recv(5);
    is $w->{type}, 'welcome', 'first frame is welcome';
    ok !exists $w->{id}, 'welcome after header auth has no id';
    is $w->{user}, 'alice', 'user';
    is $w->{expires_at}, $exp, 'expires_at is the exp claim';
    ok abs(($w->{server_time} // 0) - time * 1000) < 60_000,
        'server_time in milliseconds, now';
    my $p = $c->request({ type => 'ping' });
    is $p->{type}, 'pong', 'ping after auth';
}

# ---- first-frame auth
{
    my $c = ws_connect($ng->ws_url);
    my $exp = int(time) + 600;
    $c->send_json({ type => 'auth', id => 1,
                    token => token(sub => 'bob', exp => $exp) });
    my $w = $c->recv(5);
    is $w->{type}, 'welcome', 'first-frame auth: welcome';
    is $w->{id}, 1, 'welcome carries the auth id';
    is $w->{user}, 'bob', 'user';
    is $w->{expires_at}, $exp, 'expires_at';
    ok abs(($w->{server_time} // 0) - time * 1000) < 60_000, 'server_time';

    $c = ws_connect($ng->ws_url);
    $w = $c->request({ type => 'auth', id => 'a-1', token => token(sub => 'bob') });
    is $w->{type}, 'welcome', 'string id';
    is $w->{id}, 'a-1', 'string id echoed';

    $c = ws_connect($ng->ws_url);
    $c->send_json({ type => 'auth', token => token(sub => 'bob') });
    $w = $c->recv(5);
    is $w->{type}, 'welcome', 'auth without id: welcome';
    ok !exists $w->{id}, 'welcome without id';
}

# ---- before authentication
{
    my $c = ws_connect($ng->ws_url);
    my $p = $c->request({ type => 'ping', id => 7 });
    is $p->{type}, 'pong', 'ping before auth: pong';
    is $p->{id}, 7, 'pong id';
    for my $req ({ type => 'join', room => rand_room('pre') },
                 { type => 'send', room => rand_room('pre'), body => 'x' },
                 { type => 'leave', room => rand_room('pre') },
                 { type => 'refresh', token => token(sub => 'carol') }) {
        my $e = $c->request($req);
        is $e->{type}, 'error', "$req->{type} before auth: error";
        is $e->{code}, 'unauthenticated', "$req->{type}: unauthenticated";
    }
    my $w = $c->request({ type => 'auth', token => token(sub => 'carol') });
    is $w->{type}, 'welcome', 'auth still possible after those';
    my $j = $c->request({ type => 'join', room => rand_room('pre') });
    is $j->{type}, 'ok', 'join after auth';
}

# ---- auth timeout
{
    my $t0 = time;
    my $c = ws_connect($ng->ws_url . '-1s');
    is $c->close_code(6), 4008, 'no auth within chat_auth_timeout: 4008';
    my $dt = time - $t0;
    ok $dt > 0.8 && $dt < 5, sprintf 'closed after about 1 s (%.2f)', $dt;
}

# ---- bad tokens: 401 on the upgrade, 4001 as first frame
my @bad = (
    ['alg none',            token(sub => 'alice', alg => 'none')],
    ['alg none, HS256 sig', token(sub => 'alice', header_alg => 'none')],
    ['wrong secret',        token(sub => 'alice', secret => 'not-the-secret')],
    ['bad signature',       token(sub => 'alice', bad_sig => 1)],
    ['header alg RS256',    token(sub => 'alice', header_alg => 'RS256')],
    ['header alg HS512',    token(sub => 'alice', header_alg => 'HS512')],
    ['expired',             token(sub => 'alice', exp => time - 120)],
    ['nbf in the future',   token(sub => 'alice', nbf => time + 300)],
    ['no exp',              token(sub => 'alice', no_exp => 1)],
    ['exp a string',        token(sub => 'alice',
                                  claims => { exp => '' . (time + 600) })],
    ['no sub',              token(no_sub => 1)],
    ['empty sub',           token(sub => '')],
    ['sub with space',      token(sub => 'al ice')],
    ['sub with slash',      token(sub => 'al/ice')],
    ['sub of 65 bytes',     token(sub => 'a' x 65)],
    ['sub not a string',    token(claims => { sub => 42 })],
    ['not a JWT',           'hello'],
    ['two parts',           join '.', (split /\./, token(sub => 'alice'))[0, 1]],
);
my @first_frame;
for my $b (@bad) {
    my ($name, $tok) = @$b;
    my $r = raw_connect($port, '/chat/ws', { Authorization => "Bearer $tok" });
    is $r->status, 401, "header, $name: 401";
    my $c = ws_connect($ng->ws_url);
    $c->send_json({ type => 'auth', id => 1, token => $tok });
    push @first_frame, [$name, $c];
}
for (@first_frame) {
    my ($name, $c) = @$_;
    is $c->close_code(5), 4001, "first frame, $name: close 4001";
    ok !grep({ ($_->{type} // '') eq 'welcome' } @{ $c->queue }),
        "first frame, $name: no welcome";
}

# ---- accepted edge cases
for my $g (['nbf within the 60 s leeway', token(sub => 'alice', nbf => time + 20)],
           ['sub with every allowed character',
            token(sub => 'Az09_.@-x')],
           ['sub of 64 bytes', token(sub => 'b' x 64)],
           ['iss and aud not configured: ignored',
            token(sub => 'alice', iss => 'whoever', aud => 'whatever')],
           ['name and roles', token(sub => 'alice', name => 'Alice A.',
                                    roles => ['moderator'])]) {
    my $c = ws_connect($ng->ws_url, token => $g->[1]);
    my $w = ref $c && $c->isa('ChatTest::WS') ? $c->recv(5) : undef;
    is $w && $w->{type}, 'welcome', "accepted: $g->[0]";
}

# ---- iss / aud configured
{
    my $n2 = start_nginx(http => "chat_jwt_issuer issuer-x;\n"
                               . "    chat_jwt_audience aud-y;");
    my %ok = (iss => 'issuer-x', aud => 'aud-y');
    my $c = ws_connect($n2->ws_url, token => token(sub => 'alice', %ok));
    my $w = ref $c && $c->isa('ChatTest::WS') ? $c->recv(5) : undef;
    is $w && $w->{type}, 'welcome', 'iss and aud right: welcome';
    for my $t (['wrong iss', token(sub => 'alice', %ok, iss => 'issuer-z')],
               ['wrong aud', token(sub => 'alice', %ok, aud => 'aud-z')],
               ['missing iss', token(sub => 'alice', aud => 'aud-y')],
               ['missing aud', token(sub => 'alice', iss => 'issuer-x')]) {
        my $r = raw_connect($n2->port, '/chat/ws',
            { Authorization => "Bearer $t->[1]" });
        is $r->status, 401, "iss/aud configured, $t->[0]: 401";
        my $c = ws_connect($n2->ws_url);
        $c->send_json({ type => 'auth', id => 1, token => $t->[1] });
        is $c->close_code(5), 4001, "iss/aud configured, $t->[0]: 4001";
    }
    $n2->stop;
}

# ---- RS256 and ES256
{
    my $k = make_keys();
    my $n3 = start_nginx(keys => [[RS256 => $k->{rsa_pub}],
                                  [ES256 => $k->{ec_pub}]]);
    my @signers = (['openssl', sub {
        my ($alg, $key, %c) = @_;
        token(alg => $alg, key => $key, %c);
    }]);
    if (my $tool = chat_token_tool()) {
        push @signers, ['chat-token', sub {
            my ($alg, $key, %c) = @_;
            my $out = `$tool --alg $alg --key $key --sub $c{sub} --ttl 600`;
            chomp $out;
            return $out;
        }];
    } else {
        diag 'build/chat-token not built: RS256/ES256 tokens signed with '
            . 'openssl only';
    }
    for my $s (@signers) {
        for my $alg (qw(RS256 ES256)) {
            my $key = $alg eq 'RS256' ? $k->{rsa} : $k->{ec};
            my $tok = $s->[1]->($alg, $key, sub => 'alice');
            my $c = ws_connect($n3->ws_url, token => $tok);
            my $w = ref $c && $c->isa('ChatTest::WS') ? $c->recv(5) : undef;
            is $w && $w->{type}, 'welcome', "$alg token ($s->[0]): welcome";
            is $w && $w->{user}, 'alice', "$alg token ($s->[0]): user";
            $c = ws_connect($n3->ws_url);
            $w = $c->request({ type => 'auth', token => $tok });
            is $w && $w->{type}, 'welcome', "$alg first frame ($s->[0])";
        }
    }
    my $pem = do { local (@ARGV, $/) = ($k->{rsa_pub}); <> };
    for my $t (
        ['HS256 signed with the RSA public key PEM',
         token(sub => 'alice', secret => $pem)],
        ['HS256 signed with the EC public key PEM',
         token(sub => 'alice',
               secret => do { local (@ARGV, $/) = ($k->{ec_pub}); <> })],
        ['HS256 token, no HS256 key', token(sub => 'alice')],
        ['RS256 header, signed by the EC key',
         token(sub => 'alice', alg => 'ES256', key => $k->{ec},
               header_alg => 'RS256')],
        ['ES256 header, signed by the RSA key',
         token(sub => 'alice', alg => 'RS256', key => $k->{rsa},
               header_alg => 'ES256')],
        ['RS256 bad signature',
         token(sub => 'alice', alg => 'RS256', key => $k->{rsa}, bad_sig => 1)],
        ['ES256 bad signature',
         token(sub => 'alice', alg => 'ES256', key => $k->{ec}, bad_sig => 1)],
        ['RS256 expired',
         token(sub => 'alice', alg => 'RS256', key => $k->{rsa},
               exp => time - 300)],
        ['alg none', token(sub => 'alice', alg => 'none')],
    ) {
        my $r = raw_connect($n3->port, '/chat/ws',
            { Authorization => "Bearer $t->[1]" });
        is $r->status, 401, "$t->[0]: 401";
    }
    $n3->stop;
}

# ---- refresh
{
    my $c = login($ng, 'dave');
    my $e = $c->request({ type => 'refresh',
                          token => token(sub => 'dave', bad_sig => 1) });
    ok !$e || $e->{type} eq 'error' || $c->{closed},
        'refresh with a bad token: rejected';
    isnt $e && $e->{type}, 'ok', 'refresh with a bad token: no ok';
}

# ---- a refresh brings the display name of the new token
{
    my $room = rand_room('rename');
    my $c = login($ng, 'erin', claims => { name => 'Erin' });
    is $c->request({ type => 'join', room => $room })->{type}, 'ok', 'join';
    is $c->request({ type => 'send', room => $room, body => 'one' })->{type},
        'ok', 'send under the first name';
    my $r = $c->request({ type => 'refresh',
        token => token(sub => 'erin', name => 'Erin, renamed') });
    is $r && $r->{type}, 'ok', 'refresh with another name: ok';
    is $c->request({ type => 'send', room => $room, body => 'two' })->{type},
        'ok', 'send under the new name';
    my @m = $c->wait_messages($room, 2, 5);
    is_deeply [map { [$_->{from}, $_->{name}, $_->{body}] } @m],
        [['erin', 'Erin', 'one'], ['erin', 'Erin, renamed', 'two']],
        'each message carries the name of its time';
}

is $exp_plain->close_code(($soon > time ? $soon - time : 0) + 5), 4001,
    'token expired: closed with 4001';
ok(($exp_plain->{close_time} // 0) >= $soon - 0.5,
    sprintf 'not closed before exp (%.2f s before)',
    $soon - ($exp_plain->{close_time} // 0));
is $exp_other->close_code(5), 4001,
    'token expired after a refresh with another sub: 4001';
# the refreshed connection outlives the first token by 2 s
ChatTest::run_loop(sub { $exp_refresh->{closed} }, $soon + 2 - time);
ok !$exp_refresh->{closed}, 'refreshed connection still open after exp';
is(($exp_refresh->request({ type => 'ping' }) // {})->{type}, 'pong',
    'refreshed connection still works');

$ng->stop;
done_testing;
