# The topology of docker/compose.yaml without containers: two gateways
# (gw1, gw2, two workers each) started from the image's config template,
# docker/gateway.conf.in, rendered by the image's own docker/chat-gateway
# with this test's addresses, on one Redis and one PostgreSQL (the
# harness's).  A message sent to gw1 reaches a client on gw2 and the other
# way round, is stored once, and history from either gateway shows it;
# both report healthy.  An account registered on gw1 logs in on gw2, and
# a refresh token spent on one is a reuse on the other; gw1's /metrics
# parses and counts both workers; gw2's access log is the template's
# JSON lines.  The compose file itself is checked for what the
# module needs of it: numeric addresses that agree with each other (the
# config rendered from gw1's environment passes nginx -t), one JWT key
# for both gateways, ports on loopback only.
#
# CHAT_TOPOLOGY_URLS="http://127.0.0.1:8081 http://127.0.0.1:8082" and
# CHAT_TOPOLOGY_KEY=<the stack's JWT key file> run the same chat checks
# against gateways already running (the compose stack: docker/README.md).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use CPAN::Meta::YAML;
use ChatTest;
use ChatTest::Env qw($ROOT $MODULE $NGINX tmpdir command_line
                     world_enterable);
use ChatTest::Accounts qw(accounts_key auth claims_of new_user);
use ChatTest::Prom qw(prom_scrape prom_num);

my $GATEWAY = "$ROOT/docker/chat-gateway";

# the template's workers run as nginx's default user, as in the image:
# a checkout they cannot enter (root's home) serves a copy of web/
my $WEB = "$ROOT/web";
if (!world_enterable($WEB)) {
    $WEB = tmpdir() . '/web';
    system('cp', '-R', "$ROOT/web", $WEB) == 0 or die "cp web: $?";
}
my $EXTERNAL = $ENV{CHAT_TOPOLOGY_URLS};

# docker/chat-gateway render with the given CHAT_ variables alone (the
# harness's own CHAT_MODULE and others stay out)
sub render {
    my (%env) = @_;
    local %ENV = ((map { $_ => $ENV{$_} } grep { !/^CHAT_/ } keys %ENV),
                  %env);
    my $conf = `@{[command_line($GATEWAY, 'render')]}`;
    die "chat-gateway render failed\n" if $?;
    return $conf;
}

# whether a line of the gateway's access log matches, within 10 s (a line
# is written once its request or connection has ended)
sub logged {
    my ($gw, $re) = @_;
    return wait_until(sub {
        open my $f, '<', $gw->dir . '/access.log' or return 0;
        grep { $_ =~ $re } <$f>;
    }, 10);
}

# ---- the compose file and the image, as far as they can be read
my $compose = CPAN::Meta::YAML->read("$ROOT/docker/compose.yaml")
    or die CPAN::Meta::YAML->errstr;
my $svc = $compose->[0]{services};
is_deeply [sort keys %$svc], [qw(gw1 gw2 postgres redis)],
    'compose: gw1, gw2, postgres, redis';

my $dockerfile = do { local (@ARGV, $/) = ("$ROOT/docker/Dockerfile"); <> };
my %stage = map { $_ => 1 } $dockerfile =~ /^FROM\s+\S+\s+AS\s+(\S+)/mig;
my %want_target = (redis => 'redis', postgres => 'postgres',
                   gw1 => 'gateway', gw2 => 'gateway');
for my $s (sort keys %want_target) {
    my $b = $svc->{$s}{build} // {};
    ok $b->{dockerfile} eq 'docker/Dockerfile' && $b->{context} eq '..'
        && $b->{target} eq $want_target{$s} && $stage{ $b->{target} },
        "compose: $s is the Dockerfile's stage $want_target{$s}";
}
like $dockerfile, qr/^FROM debian:bookworm AS gateway$/m,
    'the gateway stage is Debian 12';
like $dockerfile, qr{^COPY --from=build /src/build/ngx_chat_module\.so /usr/lib/nginx/modules/$}m,
    "the module where the template's default load_module looks for it";
like render(CHAT_REDIS => '127.0.0.1:1', CHAT_POSTGRES => 'host=127.0.0.1'),
    qr{^load_module /usr/lib/nginx/modules/ngx_chat_module\.so;$}m,
    'the default load_module';

my ($subnet) = map { $_->{subnet} }
    @{ $compose->[0]{networks}{chat}{ipam}{config} // [] };
my ($net, $bits) = ($subnet // '') =~ m{^(\d+\.\d+\.\d+\.\d+)/(\d+)$};
ok defined $net, "compose: the network has a fixed subnet ($subnet)";
sub ip4 { unpack 'N', pack 'C4', split /\./, $_[0] }
my %addr = map { $_ => $svc->{$_}{networks}{chat}{ipv4_address} // '' }
    keys %$svc;
my $mask = $bits ? (0xffffffff << (32 - $bits)) & 0xffffffff : 0;
ok !(grep { $_ !~ /^\d+\.\d+\.\d+\.\d+$/
            || (ip4($_) & $mask) != (ip4($net // '0.0.0.0') & $mask) }
     values %addr), 'compose: every service has a fixed address in it';
is scalar(keys %{ { reverse %addr } }), 4, 'compose: four addresses';

my %gw_env;
for my $g (qw(gw1 gw2)) {
    my $e = $gw_env{$g} = $svc->{$g}{environment};
    is $e->{CHAT_REDIS}, "$addr{redis}:6379", "$g: chat_redis is redis's"
        . ' address';
    like $e->{CHAT_POSTGRES}, qr/(?:^|\s)host=\Q$addr{postgres}\E(?:\s|$)/,
        "$g: chat_postgres is postgres's address";
    like " $svc->{postgres}{environment}{CHAT_PG_TRUST} ",
        qr{\s\Q$addr{$g}\E/32\s}, "postgres lets $g in";
    my $listen = $e->{CHAT_LISTEN} // 8080;
    is_deeply [map { /^127\.0\.0\.1:\d+:(\d+)$/ ? $1 : "not loopback: $_" }
               @{ $svc->{$g}{ports} }], [$listen],
        "$g: its port $listen published on loopback only";
    my ($dir) = ($e->{CHAT_JWT_KEY} // '') =~ m{^(.*)/[^/]+$};
    is_deeply $svc->{$g}{volumes}, ["keys:$dir"],
        "$g: the key directory is the volume keys";
}
is $gw_env{gw1}{CHAT_JWT_KEY}, $gw_env{gw2}{CHAT_JWT_KEY},
    'both gateways use one key file';
ok exists $compose->[0]{volumes}{keys}, 'the volume keys is declared';
isnt $svc->{gw1}{ports}[0], $svc->{gw2}{ports}[0], 'two host ports';

# the module accepts the compose addresses (it refuses host names)
{
    my $st = tmpdir() . '/compose-gw1';
    mkdir $st;
    my $conf = render(%{ $gw_env{gw1} }, CHAT_MODULE => $MODULE,
                      CHAT_JWT_KEY => ChatTest::Token::secret_file(),
                      CHAT_ACCOUNTS_KEY => accounts_key(),
                      CHAT_LISTEN => '127.0.0.1:' . free_port(),
                      CHAT_STATE => $st, CHAT_ERROR_LOG => "$st/error.log",
                      CHAT_ACCESS_LOG => "$st/access.log",
                      CHAT_WEB => $WEB);
    open my $f, '>', "$st/nginx.conf" or die $!;
    print $f $conf;
    close $f;
    my $out = `@{[command_line($NGINX, '-t', '-p', "$st/", '-c',
                               "$st/nginx.conf", '-e', "$st/error.log")]} 2>&1`;
    is $?, 0, "gw1's config as compose renders it passes nginx -t"
        or diag $out;
}

# ---- two gateways
my ($key, @gw);
if ($EXTERNAL) {
    @gw = map { Gateway->new($_) } split ' ', $EXTERNAL;
    open my $f, '<', $ENV{CHAT_TOPOLOGY_KEY} // die 'CHAT_TOPOLOGY_KEY'
        or die "$ENV{CHAT_TOPOLOGY_KEY}: $!";
    $key = do { local $/; <$f> };
} else {
    my $b = backends();
    @gw = map {
        start_nginx(workers => 2, conf => sub {
            my ($n) = @_;
            my $c = render(CHAT_MODULE => $MODULE, CHAT_WORKERS => 2,
                CHAT_LISTEN => '127.0.0.1:' . $n->port,
                CHAT_REDIS => $b->{redis}, CHAT_POSTGRES => $b->{conninfo},
                CHAT_JWT_KEY => ChatTest::Token::secret_file(),
                CHAT_ACCOUNTS_KEY => accounts_key(),
                CHAT_STATE => $n->dir, CHAT_ERROR_LOG => $n->dir . '/error.log',
                CHAT_ACCESS_LOG => $n->dir . '/access.log',
                CHAT_WEB => $WEB);
            die "placeholders left: $1\n" if $c =~ /(@\w+@)/;
            return $c;
        })
    } 1 .. 2;
    is_deeply [map { scalar $_->worker_pids } @gw], [2, 2],
        'gw1 and gw2 from the template: two workers each';
}
is scalar(@gw), 2, 'two gateways';
sub tok { token(sub => $_[0], defined $key ? (secret => $key) : ()) }

for my $i (0, 1) {
    my $h;
    ok wait_until(sub {
        $h = http_get($gw[$i]->api_url . '/health');
        $h->{status} == 200;
    }, 10), "gw@{[$i + 1]}: healthy";
    is_deeply $h->{json}, { status => 'ok', redis => 'up', postgres => 'up' },
        "gw@{[$i + 1]}: redis up, postgres up";
}

my $room = rand_room('topology');
my $alice = login($gw[0], 'alice', token => tok('alice'));
my $bob = login($gw[1], 'bob', token => tok('bob'));
for my $c ($alice, $bob) {
    my $j = $c->request({ type => 'join', room => $room });
    die 'join failed: ' . explain($j) unless $j && $j->{type} eq 'ok';
}

# gw1 -> gw2 over the WebSocket
my $ack = $alice->request({ type => 'send', room => $room,
                            body => 'from gw1', client_msg_id => 'topo-1' });
is $ack->{type}, 'ok', 'alice on gw1: the send is acknowledged';
my ($m) = $bob->wait_messages($room, 1, 10);
is_deeply [map { $m->{$_} } qw(from body msg_id seq)],
    ['alice', 'from gw1', $ack->{msg_id}, $ack->{seq}],
    'bob on gw2 gets it, as acknowledged';

# gw2 -> gw1 over REST
my $r = api($gw[1], POST => "/rooms/$room/messages", token => tok('bob'),
            json => { body => 'from gw2', client_msg_id => 'topo-2' });
is $r->{status}, 201, 'bob posts to gw2: 201';
is_deeply [map { [$_->{from}, $_->{body}, $_->{msg_id}] }
           $alice->wait_messages($room, 2, 10)],
    [['alice', 'from gw1', $ack->{msg_id}],
     ['bob', 'from gw2', $r->{json}{msg_id}]],
    'alice on gw1 gets her message, then it';

# a retry on the other gateway is the same message
my $again = api($gw[0], POST => "/rooms/$room/messages", token => tok('alice'),
                json => { body => 'from gw1', client_msg_id => 'topo-1' });
is_deeply [$again->{status}, $again->{json}{msg_id}], [201, $ack->{msg_id}],
    "alice's retry on gw1 over REST: the first send's msg_id";

my $want = [['alice', 'from gw1'], ['bob', 'from gw2']];
for my $i (0, 1) {
    my $h = api($gw[$i], GET => "/rooms/$room/messages", token => tok('carol'));
    is_deeply [map { [$_->{from}, $_->{body}] } @{ $h->{json}{messages} }],
        $want, "history from gw@{[$i + 1]}: both messages, once each";
}
if (!$EXTERNAL) {
    is psql(backends()->{conninfo},
            "select count(*) from messages where room_id = '$room'"), 2,
        'PostgreSQL holds two messages';
    if (-f "$ROOT/web/index.html") {
        my $page = http_get($gw[1]->url . '/');
        my $file = do { local (@ARGV, $/) = ("$ROOT/web/index.html"); <> };
        ok $page->{status} == 200 && $page->{body} eq $file,
            'gw2 serves the web app at /';
    }
}

# ---- accounts: one deployment, whichever gateway answers
{
    my ($u, $pw) = (new_user('topo'), 'a passphrase of the topology');
    is auth($gw[0], 'register', { user => $u, password => $pw })->{status},
        201, 'an account registered on gw1';
    my $l = auth($gw[1], 'login', { user => $u, password => $pw });
    is $l->{status}, 200, 'logs in on gw2';
    is claims_of($l->{json}{access_token})->{sub}, $u, 'a token for it';
    is api($gw[0], GET => '/rooms', token => $l->{json}{access_token})
        ->{status}, 200, "gw2's access token works on gw1";
    my $f = auth($gw[0], 'refresh',
                 { refresh_token => $l->{json}{refresh_token} });
    is $f->{status}, 200, "gw2's refresh token refreshes on gw1";
    is_api_error(auth($gw[1], 'refresh',
                      { refresh_token => $l->{json}{refresh_token} }),
                 401, 'unauthenticated', 'and presented again on gw2: reuse');
    is api($gw[0], GET => '/rooms', token => $f->{json}{access_token})
        ->{status}, 401, 'which revoked the session on gw1 too';
    unless ($EXTERNAL) {
        for ([0, 'register', 201], [1, 'login', 200], [0, 'refresh', 200]) {
            my ($i, $call, $status) = @$_;
            ok logged($gw[$i], qr{"POST /chat/api/auth/$call [^"]*","status":$status,.*"user":"\Q$u\E"}),
                "gw@{[$i + 1]}'s access log: the $call with its user";
        }
    }
}

# ---- metrics and the JSON access log of the template
unless ($EXTERNAL) {
    my $m = prom_scrape($gw[0]->url . '/metrics');
    is prom_num($m, 'ngx_chat_workers'), 2, "gw1's /metrics: two workers";
    ok prom_num($m, 'ngx_chat_messages_received_total') >= 1,
        'and the sends it took';
    is_deeply [@ChatTest::Prom::PROBLEMS], [],
        'in the Prometheus text format';
}

close_all($alice, $bob);
if (!$EXTERNAL) {
    ok logged($gw[1], qr/"request":"GET \/chat\/ws [^"]*","status":101,.*"user":"bob",.*"close":"1000"/),
        "gw2's access log: bob's WebSocket line as JSON, at its close";

    is_deeply [map { $_->crashes } @gw], [], 'no worker crashed';
    $_->stop for @gw;
}
done_testing;

# a gateway already running, at a base URL
package Gateway;
sub new     { bless { url => $_[1] }, $_[0] }
sub url     { $_[0]{url} }
sub api_url { "$_[0]{url}/chat/api" }
sub ws_url  { (my $u = "$_[0]{url}/chat/ws") =~ s{^http}{ws}; $u }
