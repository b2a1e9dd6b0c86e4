package ChatTest;

# The integration test harness of ngx_chat.
#
# Backends: the shared PostgreSQL and Redis of a `make test` run are started
# by t/lib/backends.sh; CHAT_TEST_DIR names their directory (DIR/env has the
# ports).  Without CHAT_TEST_DIR, the first use starts a private set for this
# .t file (same ports) and END stops it.
#
# Environment:
#   CHAT_TEST_DIR           shared backends directory (see above)
#   CHAT_MODULE             the module (default <repo>/build/ngx_chat_module.so)
#   CHAT_TOKEN              the chat-token tool (default <repo>/build/chat-token)
#   CHAT_NGINX              nginx binary (default /usr/sbin/nginx)
#   CHAT_HARNESS_SELFTEST   1: start a plain nginx without the module and the
#                           chat directives (to test this harness itself)
#   CHAT_TEST_KEEP          1: keep the temporary directories
#   CHAT_TEST_VERBOSE       1: diag the nginx error logs at the end

use strict;
use warnings;

use Cwd qw(abs_path);
use Digest::SHA qw(hmac_sha256 sha1);
use Errno qw(EAGAIN EINTR EWOULDBLOCK ECONNRESET);
use Exporter qw(import);
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use MIME::Base64 qw(encode_base64 encode_base64url decode_base64);
use POSIX qw(:sys_wait_h);
use Socket qw(SOL_SOCKET SO_RCVBUF IPPROTO_TCP TCP_NODELAY
              pack_sockaddr_in inet_aton);
use Test::More ();
use Time::HiRes qw(time sleep);

use Mojo::IOLoop;
use Mojo::JSON qw(encode_json decode_json);
use Mojo::UserAgent;

our @EXPORT = qw(
    start_nginx start_redis start_pg backends
    token sign_token make_keys secret_file chat_token_tool
    ws_connect login raw_connect http_request http_get
    rand_room free_port wait_until run_loop next_id
    repo_root selftest
);

our $ROOT = abs_path(dirname(__FILE__) . '/../..');
our $SELFTEST = $ENV{CHAT_HARNESS_SELFTEST} ? 1 : 0;
our $NGINX = $ENV{CHAT_NGINX} || '/usr/sbin/nginx';

# nginx reads NGINX as the sockets a binary upgrade hands over, and then
# does not daemonize: no nginx started from here may inherit it
delete $ENV{NGINX};
our $MODULE = $ENV{CHAT_MODULE} || "$ROOT/build/ngx_chat_module.so";
our $BACKENDS_SH = "$ROOT/t/lib/backends.sh";
our $WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

$SIG{PIPE} = 'IGNORE';

my $TMP;            # per process temp dir, mode 0755 (postgres must enter)
my $SECRET_FILE;    # the HS256 secret shared by every nginx of this process
my $SECRET;
my %BACKENDS;       # pg_port, redis_port, conninfo
my $OWN_BACKENDS;   # dir when this process started the shared ones itself
my @NGINX;          # every started nginx, stopped at END
my @OWN;            # own redis / pg objects, stopped at END
my %USED_PORTS;
my $ID = 0;
my $PID = $$;

sub repo_root { $ROOT }
sub selftest  { $SELFTEST }
sub next_id   { ++$ID }

# true when any user may enter $dir (search permission on every component)
sub world_enterable {
    my $dir = abs_path(shift) // return 0;
    my $path = '';
    for my $part ('', grep { length } split m{/}, $dir) {
        $path .= "$part/";
        my @st = stat $path or return 0;
        return 0 unless $st[2] & 0001;
    }
    return 1;
}

sub tmpdir {
    return $TMP if $TMP;
    # a TMPDIR that only its owner may enter (under root's home) would
    # keep postgres and the nginx workers out: /tmp then
    my $base = File::Spec->tmpdir;
    $base = '/tmp' unless world_enterable($base);
    $TMP = tempdir('chattest-XXXXXX', DIR => $base,
                   CLEANUP => !$ENV{CHAT_TEST_KEEP});
    chmod 0755, $TMP;
    return $TMP;
}

sub secret_file {
    return $SECRET_FILE if $SECRET_FILE;
    # 40 printable bytes, no trailing newline: the same secret whether or
    # not a reader strips a newline, and no NUL byte for C string handling
    $SECRET = '';
    open my $r, '<:raw', '/dev/urandom' or die "urandom: $!";
    read $r, my $bytes, 20;
    close $r;
    $SECRET = unpack 'H*', $bytes;
    $SECRET_FILE = tmpdir() . '/jwt.secret';
    open my $f, '>:raw', $SECRET_FILE or die "$SECRET_FILE: $!";
    print $f $SECRET;
    close $f;
    chmod 0644, $SECRET_FILE;
    return $SECRET_FILE;
}

sub secret { secret_file(); $SECRET }

sub rand_room {
    my $prefix = shift // 'room';
    return sprintf '%s-%s-%04x%04x', $prefix, $$, int(rand 65536),
        int(rand 65536);
}

# A port for a server to listen on, below the kernel's ephemeral range
# (32768 and up): an outgoing connection can take an ephemeral port between
# this check and the server's bind, never one of these.
sub free_port {
    for (1 .. 200) {
        my $p = 20000 + int rand 12000;
        next if $USED_PORTS{$p};
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
            LocalPort => $p, Listen => 1, ReuseAddr => 1, Proto => 'tcp')
            or next;
        close $s;
        $USED_PORTS{$p} = 1;
        return $p;
    }
    die "free_port: no free port";
}

sub port_open {
    my $port = shift;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
        Proto => 'tcp', Timeout => 1);
    return $s ? 1 : 0;
}

# Polls a condition (for things that have no event to wait on: processes,
# ports).  Returns true when it held before the timeout.
sub wait_until {
    my ($cond, $timeout, $step) = @_;
    $timeout //= 10;
    $step //= 0.02;
    my $end = time + $timeout;
    while (1) {
        return 1 if $cond->();
        return 0 if time > $end;
        sleep $step;
    }
}

sub pid_alive {
    my $pid = shift;
    return 0 unless $pid && -r "/proc/$pid/stat";
    open my $f, '<', "/proc/$pid/stat" or return 0;
    my $st = <$f> // '';
    close $f;
    return 0 unless $st =~ /\)\s+(\S)/;
    return $1 ne 'Z';
}

sub children_of {
    my $pid = shift;
    my @kids;
    for my $line (`ps --ppid $pid -o pid=,stat= 2>/dev/null`) {
        my ($p, $stat) = $line =~ /^\s*(\d+)\s+(\S+)/ or next;
        push @kids, $p unless $stat =~ /^Z/;
    }
    return @kids;
}

sub sh {
    my @cmd = @_;
    my $out = `@{[join ' ', map { quote($_) } @cmd]} 2>&1`;
    die "command failed: @cmd\n$out" if $?;
    return $out;
}

sub quote {
    my $s = shift;
    return $s if $s =~ m{^[A-Za-z0-9_./:=@,+-]+$};
    $s =~ s/'/'\\''/g;
    return "'$s'";
}

# ---------------------------------------------------------------- backends

sub backends {
    return \%BACKENDS if %BACKENDS;
    my $dir = $ENV{CHAT_TEST_DIR};
    if (!$dir) {
        $dir = tmpdir() . '/backends';
        mkdir $dir;
        sh($BACKENDS_SH, 'start', $dir);
        $OWN_BACKENDS = $dir;
    }
    open my $f, '<', "$dir/env" or die "no $dir/env: start the backends "
        . "with t/lib/backends.sh start $dir\n";
    while (<$f>) {
        next unless /^(\w+)=(.*)$/;
        my ($k, $v) = ($1, $2);
        $v =~ s/^'(.*)'$/$1/;
        $BACKENDS{$k} = $v;
    }
    close $f;
    $BACKENDS{pg_port} = $BACKENDS{CHAT_PG_PORT};
    $BACKENDS{redis_port} = $BACKENDS{CHAT_REDIS_PORT};
    $BACKENDS{conninfo} = $BACKENDS{CHAT_PG_CONNINFO}
        || "host=127.0.0.1 port=$BACKENDS{pg_port} dbname=chat user=chat";
    $BACKENDS{redis} = "127.0.0.1:$BACKENDS{redis_port}";
    return \%BACKENDS;
}

# A test's own Redis: ->stop, ->start, ->restart, ->port, ->addr, ->running
sub start_redis {
    my $port = shift // free_port();
    my $dir = tmpdir() . "/redis-$port";
    mkdir $dir;
    my $r = bless { port => $port, dir => $dir }, 'ChatTest::Redis';
    $r->start;
    push @OWN, $r;
    return $r;
}

# A test's own PostgreSQL (fresh cluster, migrated): ->stop, ->start,
# ->port, ->conninfo
sub start_pg {
    my $port = shift // free_port();
    my $dir = tmpdir() . "/pg-$port";
    mkdir $dir;
    chmod 0755, $dir;
    sh($BACKENDS_SH, 'pg-init', $dir, $port);
    my $p = bless { port => $port, dir => $dir, up => 1 }, 'ChatTest::PG';
    push @OWN, $p;
    return $p;
}

# ------------------------------------------------------------------- nginx

# start_nginx(%opts):
#   workers => 2, http => 'text', loc => 'text' (in location /chat/ws),
#   api_loc => 'text', server => 'text', main => 'text',
#   redis => 'host:port', pg => 'conninfo',
#   keys => [[ALG, file], ...]  (default [[HS256, the harness secret]]),
#   listen => 'reuseport ...' (extra listen parameters), port => N,
#   errors => 0 (no error_page to the chat_errors location)
sub start_nginx {
    my %o = @_;
    my $n = bless { opts => \%o }, 'ChatTest::Nginx';
    my $dir = tempdir('nginx-XXXXXX', DIR => tmpdir(),
                      CLEANUP => !$ENV{CHAT_TEST_KEEP});
    chmod 0755, $dir;
    $n->{dir} = $dir;
    $n->{port} = $o{port} // free_port();
    $n->{workers} = $o{workers} // 2;
    $n->write_conf;
    push @NGINX, $n;
    $n->start;
    return $n;
}

# ------------------------------------------------------------------ tokens

sub b64u { encode_base64url($_[0]) }

# token(sub => 'alice', %claims_and_options)
# claims: sub exp nbf iat iss aud jti name roles, claims => {extra}
#   exp => undef or no_exp => 1: no exp; ttl => seconds (default 3600)
#   no_sub => 1: no sub; no_iat => 1
# options: alg => header and signing alg (HS256 default; none; RS256/ES256
#   need key => private PEM), header_alg => alg written in the header only,
#   secret => HMAC secret (default: the harness secret),
#   bad_sig => 1 (flip the signature), header => {extra header fields}
sub token {
    my %a = @_;
    my $now = int time;
    my %c;
    $c{sub} = $a{sub} // 'alice' unless $a{no_sub};
    if ($a{no_exp} || (exists $a{exp} && !defined $a{exp})) {
        # none
    } elsif (defined $a{exp}) {
        $c{exp} = int $a{exp};
    } else {
        $c{exp} = $now + ($a{ttl} // 3600);
    }
    $c{iat} = defined $a{iat} ? int $a{iat} : $now unless $a{no_iat};
    for my $k (qw(nbf)) { $c{$k} = int $a{$k} if defined $a{$k} }
    for my $k (qw(iss aud jti name roles)) { $c{$k} = $a{$k} if defined $a{$k} }
    %c = (%c, %{ $a{claims} }) if $a{claims};
    return sign_token(\%c, %a);
}

sub sign_token {
    my ($claims, %a) = @_;
    my $alg = $a{alg} // 'HS256';
    my %h = (alg => $a{header_alg} // $alg, typ => 'JWT',
             %{ $a{header} // {} });
    my $input = b64u(encode_json(\%h)) . '.' . b64u(encode_json($claims));
    my $sig;
    if ($alg eq 'none') {
        $sig = '';
    } elsif ($alg eq 'HS256') {
        $sig = hmac_sha256($input, $a{secret} // secret());
    } elsif ($alg eq 'RS256' || $alg eq 'ES256') {
        $sig = openssl_sign($input, $a{key} // die("$alg needs key"), $alg);
    } else {
        die "token: unknown alg $alg";
    }
    if ($a{bad_sig}) {
        $sig = length $sig ? $sig : 'x';
        substr($sig, 0, 1) = chr(ord(substr $sig, 0, 1) ^ 0x55);
    }
    return $input . '.' . b64u($sig);
}

sub openssl_sign {
    my ($input, $key, $alg) = @_;
    my $in = tmpdir() . "/sign-$$.in";
    open my $f, '>:raw', $in or die $!;
    print $f $input;
    close $f;
    my $der = `openssl dgst -sha256 -sign @{[quote($key)]} -binary @{[quote($in)]}`;
    die "openssl dgst failed" if $? || !length $der;
    unlink $in;
    return $der if $alg eq 'RS256';
    # ECDSA: DER SEQUENCE { INTEGER r, INTEGER s } -> r || s (32 bytes each)
    my $p = 2;
    $p++ if ord(substr $der, 1, 1) & 0x80;
    my @int;
    for (1 .. 2) {
        die "bad ECDSA DER" unless substr($der, $p, 1) eq "\x02";
        my $len = ord substr $der, $p + 1, 1;
        my $v = substr $der, $p + 2, $len;
        $v =~ s/^\x00+//;
        push @int, ("\x00" x (32 - length $v)) . $v;
        $p += 2 + $len;
    }
    return join '', @int;
}

sub chat_token_tool {
    my $t = $ENV{CHAT_TOKEN} || "$ROOT/build/chat-token";
    return -x $t ? $t : undef;
}

# make_keys() -> {rsa => priv.pem, rsa_pub => pub.pem, ec => ..., ec_pub => ...}
sub make_keys {
    my $dir = tmpdir() . '/keys';
    return { map { $_ => "$dir/$_.pem" } qw(rsa rsa_pub ec ec_pub) }
        if -f "$dir/ec_pub.pem";
    mkdir $dir;
    chmod 0755, $dir;
    sh('openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt',
       'rsa_keygen_bits:2048', '-out', "$dir/rsa.pem");
    sh('openssl', 'pkey', '-in', "$dir/rsa.pem", '-pubout', '-out',
       "$dir/rsa_pub.pem");
    sh('openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt',
       'ec_paramgen_curve:P-256', '-out', "$dir/ec.pem");
    sh('openssl', 'pkey', '-in', "$dir/ec.pem", '-pubout', '-out',
       "$dir/ec_pub.pem");
    chmod 0644, glob "$dir/*.pem";
    return { map { $_ => "$dir/$_.pem" } qw(rsa rsa_pub ec ec_pub) };
}

# ------------------------------------------------------------ event loop

# Runs the Mojo event loop until $cond is true or $timeout seconds passed.
sub run_loop {
    my ($cond, $timeout) = @_;
    $timeout //= 5;
    $timeout = 0.001 if $timeout < 0.001;
    return 1 if $cond->();
    my $loop = Mojo::IOLoop->singleton;
    my ($expired, $met) = (0, 0);
    my $tid = $loop->timer($timeout => sub { $expired = 1 });
    until ($met) {
        $loop->one_tick;
        $met = $cond->() ? 1 : 0;
        last if $expired;
    }
    $loop->remove($tid);
    return $met;
}

my $UA;
sub ua {
    return $UA if $UA;
    $UA = Mojo::UserAgent->new;
    $UA->inactivity_timeout(120);
    $UA->connect_timeout(5);
    $UA->request_timeout(0);
    $UA->max_response_size(16 * 1024 * 1024);
    return $UA;
}

# ws_connect($url, headers => {...}, protocols => [...], token => $jwt,
#            timeout => 5)
# Returns a ChatTest::WS on 101, else the Mojo::Message::Response (or undef
# when the connection failed; $@ then says why).
sub ws_connect {
    my ($url, %o) = @_;
    my %h = %{ $o{headers} // {} };
    $h{Authorization} = "Bearer $o{token}" if defined $o{token};
    my $c = bless { queue => [], closed => 0, frames => [], pings => 0 },
        'ChatTest::WS';
    my ($done, $res);
    my @args = ($url, \%h);
    push @args, $o{protocols} if $o{protocols};
    ua()->websocket(@args => sub {
        my (undef, $tx) = @_;
        $done = 1;
        $res = $tx;
        return unless $tx->is_websocket;
        $c->attach($tx);
    });
    if (!run_loop(sub { $done }, $o{timeout} // 5)) {
        $@ = "ws_connect $url: timeout";
        return undef;
    }
    return $c if $res->is_websocket;
    if (my $err = $res->error) {
        if (!$res->res->code) {
            $@ = "ws_connect $url: $err->{message}";
            return undef;
        }
    }
    return $res->res;
}

# login($nginx_or_url, 'alice', %ws_connect_opts): header auth, waits for
# welcome; returns the client (welcome kept in $c->{welcome}) or dies.
sub login {
    my ($target, $user, %o) = @_;
    my $url = ref $target ? $target->ws_url : $target;
    my $tok = $o{token} // token(sub => $user, %{ $o{claims} // {} });
    my $c = ws_connect($url, %o, token => $tok);
    die "login $user: " . ($@ // 'no connection') . "\n" unless $c;
    die "login $user: HTTP " . $c->code . ' ' . ($c->body // '') . "\n"
        unless $c->isa('ChatTest::WS');
    my $w = $c->wait_for(sub { $_->{type} && $_->{type} eq 'welcome' }, 5);
    die "login $user: no welcome (close " . ($c->{close_code} // '-')
        . ")\n" unless $w;
    $c->{welcome} = $w;
    $c->{user} = $user;
    return $c;
}

# http_request(METHOD, $url, headers => {}, json => $body, body => 'raw')
# -> {status, headers (Mojo::Headers), body, json}
sub http_request {
    my ($method, $url, %o) = @_;
    my $ua = Mojo::UserAgent->new;
    $ua->connect_timeout(5);
    $ua->request_timeout($o{timeout} // 10);
    my @args = ($url, $o{headers} // {});
    push @args, json => $o{json} if exists $o{json};
    push @args, $o{body} if exists $o{body};
    my $tx = $ua->build_tx($method => @args);
    $tx = $ua->start($tx);
    my $res = $tx->res;
    my $r = { status => $res->code // 0, headers => $res->headers,
              body => $res->body, error => $tx->error };
    $r->{json} = eval { decode_json($res->body) } if length($res->body // '');
    return $r;
}

sub http_get { http_request('GET', @_) }

# raw_connect($port, $path, {headers}, %opts) -> ChatTest::Raw
#   headers: a hash (undef value: leave that default header out) or an
#   array of [name, value] pairs sent as given after the request line.
#   opts: method => 'GET', no_defaults => 1, rcvbuf => bytes,
#         timeout => 5, request => 'whole raw request text',
#         no_response => 1 (read nothing yet: ->read_response later)
sub raw_connect {
    my ($port, $path, $headers, %o) = @_;
    return ChatTest::Raw->connect($port, $path, $headers, %o);
}

# ------------------------------------------------------------------- END

sub cleanup {
    return unless $$ == $PID;
    my $tb = Test::More->builder;
    for my $n (@NGINX) {
        next unless $n->{running};
        $n->stop(quiet => 1);
    }
    if (!$tb->is_passing || $ENV{CHAT_TEST_VERBOSE}) {
        for my $n (@NGINX) {
            my @l = grep { /\[(emerg|alert|crit|error)\]|exited on signal/ }
                split /\n/, $n->error_log;
            splice @l, 0, @l - 30 if @l > 30;
            Test::More::diag("nginx $n->{dir} error.log:\n  "
                . join("\n  ", @l)) if @l;
        }
    }
    $_->stop for reverse @OWN;
    @OWN = ();
    if ($OWN_BACKENDS) {
        system($BACKENDS_SH, 'stop', $OWN_BACKENDS);
        $OWN_BACKENDS = undef;
    }
}

END {
    my $rc = $?;
    cleanup();
    $? = $rc;
}

# =========================================================================

package ChatTest::Nginx;

use strict;
use warnings;
use Time::HiRes qw(time sleep);

sub port    { $_[0]{port} }
sub dir     { $_[0]{dir} }
sub pid     { $_[0]{pid} }
sub url     { "http://127.0.0.1:$_[0]{port}" }
sub ws_url  { "ws://127.0.0.1:$_[0]{port}/chat/ws" }
sub api_url { "http://127.0.0.1:$_[0]{port}/chat/api" }

sub write_conf {
    my $n = shift;
    my %o = %{ $n->{opts} };
    my $d = $n->{dir};
    my $self = $ChatTest::SELFTEST;
    my $conf = '';
    if (!$self) {
        die "the module $ChatTest::MODULE is not built\n"
            unless -f $ChatTest::MODULE;
        $conf .= "load_module $ChatTest::MODULE;\n";
    }
    $conf .= "user root;\n" if $< == 0;
    $conf .= <<"CONF";
worker_processes $n->{workers};
error_log $d/error.log info;
pid $d/nginx.pid;
daemon on;
master_process on;
events { worker_connections 1024; }
CONF
    $conf .= "$o{main}\n" if $o{main};
    $conf .= <<"CONF";
http {
    access_log $d/access.log;
    client_body_temp_path $d/tmp_body;
    proxy_temp_path $d/tmp_proxy;
    fastcgi_temp_path $d/tmp_fastcgi;
    uwsgi_temp_path $d/tmp_uwsgi;
    scgi_temp_path $d/tmp_scgi;
CONF
    my ($ws, $api);
    if (!$self) {
        my $b = ChatTest::backends();
        my $redis = $o{redis} // $b->{redis};
        my $pg = $o{pg} // $b->{conninfo};
        my @keys = @{ $o{keys} // [[HS256 => ChatTest::secret_file()]] };
        $conf .= "    chat_redis $redis;\n";
        # its pool's connections are told apart in pg_stat_activity
        $pg .= ' application_name=' . $n->pg_name
            unless $pg =~ m{application_name|://};
        $conf .= "    chat_postgres \"$pg\";\n";
        $conf .= "    chat_jwt_key $_->[0] $_->[1];\n" for @keys;
        ($ws, $api) = ('chat_ws;', 'chat_api;');
    } else {
        ChatTest::secret_file();
        $ws = q{return 400 '{"error":{"code":"bad_request","message":"selftest"}}';};
        # CHAT_HARNESS_MOCK=PORT: proxy the WebSocket location to a mock
        # server on that port (to try the tests' own logic)
        $ws = "proxy_pass http://127.0.0.1:$ENV{CHAT_HARNESS_MOCK}; "
            . 'proxy_http_version 1.1; '
            . 'proxy_set_header Upgrade $http_upgrade; '
            . 'proxy_set_header Connection upgrade; '
            . 'proxy_read_timeout 1h;'
            if $ENV{CHAT_HARNESS_MOCK};
        $api = q{return 404 '{"error":{"code":"not_found","message":"selftest"}}';};
        $conf .= "    default_type application/json;\n";
        for my $k (qw(http loc api_loc server)) {
            next unless defined $o{$k};
            $o{$k} =~ s/\bchat_ws;/$ws/g;
            $o{$k} =~ s/\bchat_api;/$api/g;
            $o{$k} =~ s/\bchat_\w+[^;]*;//g;
        }
    }
    $conf .= "    $o{http}\n" if $o{http};
    my $listen = "127.0.0.1:$n->{port}" . ($o{listen} ? " $o{listen}" : '');
    my $loc = $o{loc} // '';
    my $api_loc = $o{api_loc} // '';
    my $server = $o{server} // '';
    my $health = $self ? q{
        location = /chat/api/health {
            return 200 '{"status":"ok","redis":"up","postgres":"up"}';
        }} : '';
    # the errors nginx answers itself, before a chat location runs, in
    # JSON too (as in conf/demo.conf.in); errors => 0 leaves nginx's pages
    my $errors = ($self || defined $o{errors} && !$o{errors}) ? '' : q{
        error_page 400 405 408 413 414 500 /chat/errors;
        error_page 494 =431 /chat/errors;
        location = /chat/errors {
            chat_errors;
        }};
    $conf .= <<"CONF";
    server {
        listen $listen;
        location /chat/ws {
            $ws
            $loc
        }
        location /chat/api/ {
            $api
            $api_loc
        }$health$errors
        $server
    }
}
CONF
    open my $f, '>', "$d/nginx.conf" or die "$d/nginx.conf: $!";
    print $f $conf;
    close $f;
}

sub conf { my $n = shift; local (@ARGV, $/) = ("$n->{dir}/nginx.conf"); <> }

# the application_name of this nginx's PostgreSQL connections
sub pg_name { "ngx_chat_test_$_[0]{port}" }

# ->pg_ready($conninfo): every worker's pool is connected to the
# PostgreSQL of $conninfo (workers x chat_postgres_pool connections idle)
sub pg_ready {
    my ($n, $conninfo) = @_;
    my ($pool) = $n->conf =~ /^\s*chat_postgres_pool\s+(\d+)/m;
    my $want = $n->{workers} * ($pool // 4);
    my $name = $n->pg_name;
    my $got = eval {
        ChatTest::psql($conninfo, 'select count(*) from pg_stat_activity '
                       . "where application_name = '$name' and state = 'idle'")
    } // -1;
    return $got == $want;
}

sub nginx_cmd {
    my $n = shift;
    return ($ChatTest::NGINX, '-p', "$n->{dir}/", '-c', "$n->{dir}/nginx.conf",
            '-e', "$n->{dir}/error.log");
}

sub start {
    my $n = shift;
    my $d = $n->{dir};
    unlink "$d/nginx.pid";
    local %ENV = %ENV;
    delete $ENV{NGINX};
    my $out = `@{[join ' ', map { ChatTest::quote($_) } $n->nginx_cmd]} 2>&1`;
    if ($?) {
        die "nginx failed to start: $out\n" . $n->log_tail(20);
    }
    ChatTest::wait_until(sub { -s "$d/nginx.pid" }, 10)
        or die "nginx wrote no pid file\n" . $n->log_tail(20);
    open my $f, '<', "$d/nginx.pid" or die $!;
    chomp(my $pid = <$f>);
    close $f;
    $n->{pid} = $pid;
    $n->{running} = 1;
    ChatTest::wait_until(sub {
        ChatTest::port_open($n->{port}) || !ChatTest::pid_alive($pid)
    }, 10);
    die "nginx is not accepting on $n->{port}\n" . $n->log_tail(20)
        unless ChatTest::pid_alive($pid) && ChatTest::port_open($n->{port});
    ChatTest::wait_until(sub { $n->worker_pids >= $n->{workers} }, 10);
    return $n;
}

sub worker_pids {
    my $n = shift;
    return () unless $n->{pid};
    return ChatTest::children_of($n->{pid});
}

sub alive { ChatTest::pid_alive($_[0]{pid}) }

# -s reload (HUP) and wait until a full set of new workers runs.
sub reload {
    my ($n, %o) = @_;
    $n->write_conf if $o{rewrite};
    my %old = map { $_ => 1 } $n->worker_pids;
    CORE::kill 'HUP', $n->{pid} or die "reload: kill: $!";
    my $ok = ChatTest::wait_until(sub {
        (grep { !$old{$_} } $n->worker_pids) >= $n->{workers}
    }, $o{timeout} // 10);
    die "reload: no new workers\n" . $n->log_tail(20) unless $ok;
    return [grep { !$old{$_} } $n->worker_pids];
}

# -s quit and wait for the master to exit (kill -9 after $timeout s).
# Returns true when it exited by itself.
sub stop {
    my ($n, %o) = @_;
    return 1 unless $n->{running};
    my $pid = $n->{pid};
    my @workers = $n->worker_pids;
    CORE::kill 'QUIT', $pid;
    my $ok = ChatTest::wait_until(sub { !ChatTest::pid_alive($pid) },
                                   $o{timeout} // 10);
    if (!$ok) {
        Test::More::diag("nginx $pid did not quit in time; killing it");
        CORE::kill 'KILL', $_ for $pid, $n->worker_pids, @workers;
        ChatTest::wait_until(sub { !ChatTest::pid_alive($pid) }, 5);
    }
    $n->{running} = 0;
    ChatTest::wait_until(sub { !grep { ChatTest::pid_alive($_) } @workers },
                         5);
    if (!$o{quiet}) {
        my @crash = $n->crashes;
        Test::More::ok(!@crash, "nginx on port $n->{port}: no worker crashed")
            or Test::More::diag(join "\n", @crash);
    }
    return $ok;
}

sub kill {
    my ($n, $sig) = @_;
    my @p = ($n->{pid}, $n->worker_pids);
    CORE::kill $sig // 'KILL', @p;
    ChatTest::wait_until(sub { !ChatTest::pid_alive($n->{pid}) }, 5);
    $n->{running} = 0;
}

sub error_log {
    my $n = shift;
    open my $f, '<', "$n->{dir}/error.log" or return '';
    local $/;
    my $t = <$f>;
    close $f;
    return $t // '';
}

sub log_tail {
    my ($n, $lines) = @_;
    my @l = split /\n/, $n->error_log;
    splice @l, 0, @l - $lines if @l > $lines;
    return join("\n", @l) . "\n";
}

sub crashes {
    my $n = shift;
    return grep { /exited on signal|\[alert\].*(?:segfault|core)/ }
        split /\n/, $n->error_log;
}

# =========================================================================

package ChatTest::Redis;

sub port  { $_[0]{port} }
sub addr  { "127.0.0.1:$_[0]{port}" }
sub start {
    my $r = shift;
    ChatTest::sh($ChatTest::BACKENDS_SH, 'redis-start', $r->{dir}, $r->{port});
    $r->{up} = 1;
    return $r;
}
sub stop {
    my $r = shift;
    ChatTest::sh($ChatTest::BACKENDS_SH, 'redis-stop', $r->{dir});
    $r->{up} = 0;
    return $r;
}
sub restart { my $r = shift; $r->stop; $r->start }
sub running { ChatTest::port_open($_[0]{port}) }

package ChatTest::PG;

sub port     { $_[0]{port} }
sub conninfo { "host=127.0.0.1 port=$_[0]{port} dbname=chat user=chat" }
sub start {
    my $p = shift;
    ChatTest::sh($ChatTest::BACKENDS_SH, 'pg-start', $p->{dir});
    $p->{up} = 1;
    return $p;
}
# ->stop('immediate'): a shutdown mode of pg_ctl (default fast)
sub stop {
    my ($p, $mode) = @_;
    ChatTest::sh($ChatTest::BACKENDS_SH, 'pg-stop', $p->{dir}, $mode // 'fast');
    $p->{up} = 0;
    return $p;
}
sub running { ChatTest::port_open($_[0]{port}) }
sub psql {
    my ($p, $sql) = @_;
    my $out = `psql @{[ChatTest::quote($p->conninfo)]} -qtAX -c @{[ChatTest::quote($sql)]} 2>&1`;
    return $out;
}

# =========================================================================

package ChatTest::WS;

use strict;
use warnings;
use Mojo::JSON qw(encode_json decode_json);

sub attach {
    my ($c, $tx) = @_;
    $c->{tx} = $tx;
    $tx->max_websocket_size(16 * 1024 * 1024);
    $tx->on(text => sub {
        my (undef, $bytes) = @_;
        my $m = eval { decode_json($bytes) };
        $m = { type => '_invalid_json', raw => $bytes }
            unless ref $m eq 'HASH';
        push @{ $c->{queue} }, $m;
    });
    $tx->on(binary => sub {
        push @{ $c->{queue} }, { type => '_binary', raw => $_[1] };
    });
    $tx->on(frame => sub {
        my (undef, $f) = @_;
        $c->{pings}++ if $f->[4] == 9;
    });
    $tx->on(finish => sub {
        my (undef, $code, $reason) = @_;
        $c->{closed} = 1;
        $c->{close_time} = Time::HiRes::time();
        $c->{close_code} = $code;
        $c->{close_reason} = $reason;
    });
}

sub tx       { $_[0]{tx} }
sub protocol { $_[0]{tx}->protocol }
sub res      { $_[0]{tx}->handshake->res }
sub welcome  { $_[0]{welcome} }
sub queue    { $_[0]{queue} }
sub is_open  { !$_[0]{closed} }

sub send_json {
    my ($c, $obj) = @_;
    return 0 if $c->{closed};
    $c->{tx}->send({ text => encode_json($obj) });
    return 1;
}
sub send_text {
    my ($c, $bytes) = @_;
    return 0 if $c->{closed};
    $c->{tx}->send({ text => $bytes });
    return 1;
}
sub send_binary {
    my ($c, $bytes) = @_;
    return 0 if $c->{closed};
    $c->{tx}->send({ binary => $bytes });
    return 1;
}

sub _timeout { my %o = @_ == 1 ? (timeout => $_[0]) : @_; $o{timeout} // 5 }

# Next frame (decoded JSON object), or undef on timeout / close.
sub recv {
    my ($c, @t) = @_;
    ChatTest::run_loop(sub { @{ $c->{queue} } || $c->{closed} },
                       _timeout(@t));
    return shift @{ $c->{queue} };
}

# First queued or arriving frame for which $pred (with $_ set) is true; the
# others stay queued in order.  undef on timeout or close.
sub wait_for {
    my ($c, $pred, @t) = @_;
    my $q = $c->{queue};
    my $pos = 0;
    my $found;
    my $check = sub {
        return 1 if $found;
        for (; $pos < @$q; $pos++) {
            local $_ = $q->[$pos];
            if ($pred->($_)) {
                $found = splice @$q, $pos, 1;
                return 1;
            }
        }
        return $c->{closed} ? 1 : 0;
    };
    ChatTest::run_loop($check, _timeout(@t));
    return $found;
}

# All frames up to and including the first one matching $pred, removed from
# the queue in arrival order.  Without a match: the frames received so far,
# and $c->{last_until_ok} is false.
sub recv_until {
    my ($c, $pred, @t) = @_;
    my $q = $c->{queue};
    my $pos = 0;
    my $hit;
    my $check = sub {
        return 1 if $hit;
        for (; $pos < @$q; $pos++) {
            local $_ = $q->[$pos];
            if ($pred->($_)) { $hit = 1; return 1 }
        }
        return $c->{closed} ? 1 : 0;
    };
    ChatTest::run_loop($check, _timeout(@t));
    $c->{last_until_ok} = $hit ? 1 : 0;
    return splice @$q, 0, $hit ? $pos + 1 : scalar @$q;
}

# Sends $msg with a fresh id (unless it has one) and waits for the reply
# with that id.
sub request {
    my ($c, $msg, @t) = @_;
    $msg = { %$msg };
    $msg->{id} //= ChatTest::next_id();
    my $id = $msg->{id};
    $c->send_json($msg) or return undef;
    return $c->wait_for(sub {
        exists $_->{id} && defined $_->{id} && $_->{id} eq $id
    }, @t);
}

# Sends all requests at once (each gets a fresh id unless it has one), then
# waits for every reply; returns the replies in request order (undef for a
# request whose reply did not come within the timeout, counted from the
# last reply received).
sub pipeline {
    my ($c, $msgs, @t) = @_;
    my @ids;
    for my $m (@$msgs) {
        my %m = %$m;
        $m{id} //= ChatTest::next_id();
        push @ids, $m{id};
        $c->send_json(\%m) or last;
    }
    return $c->collect_replies(\@ids, @t);
}

sub collect_replies {
    my ($c, $ids, @t) = @_;
    my %want = map { $_ => 1 } @$ids;
    my %got;
    while (keys %want) {
        my $r = $c->wait_for(sub {
            exists $_->{id} && defined $_->{id} && $want{ $_->{id} }
        }, @t) or last;
        delete $want{ $r->{id} };
        $got{ $r->{id} } = $r;
    }
    return map { $got{$_} } @$ids;
}

# Queued `message` events (optionally of one room), removed from the queue.
sub take_messages {
    my ($c, $room) = @_;
    my (@m, @rest);
    for (@{ $c->{queue} }) {
        if (($_->{type} // '') eq 'message'
            && (!defined $room || ($_->{room} // '') eq $room)) {
            push @m, $_;
        } else {
            push @rest, $_;
        }
    }
    @{ $c->{queue} } = @rest;
    return @m;
}

# Waits until $n `message` events of $room are queued (counting those
# already queued); returns them (removed) in arrival order.
sub wait_messages {
    my ($c, $room, $n, @t) = @_;
    my $count = sub {
        scalar grep { ($_->{type} // '') eq 'message'
                      && ($_->{room} // '') eq $room } @{ $c->{queue} }
    };
    ChatTest::run_loop(sub { $count->() >= $n || $c->{closed} }, _timeout(@t));
    return $c->take_messages($room);
}

sub closed {
    my ($c, @t) = @_;
    ChatTest::run_loop(sub { $c->{closed} }, _timeout(@t));
    return $c->{closed};
}

sub close_code {
    my ($c, @t) = @_;
    $c->closed(@t);
    return $c->{close_code};
}

sub close_reason { $_[0]{close_reason} }

sub close {
    my ($c, $code, $reason) = @_;
    return if $c->{closed};
    $c->{tx}->finish($code // 1000, $reason);
}

# Lets pending I/O happen for a moment (used only where the test checks
# that something does NOT arrive, after a round trip proved the server has
# handled what came before).
sub settle {
    my ($c, $t) = @_;
    ChatTest::run_loop(sub { 0 }, $t // 0.2);
}

# =========================================================================

package ChatTest::Raw;

use strict;
use warnings;
use Errno qw(EAGAIN EINTR EWOULDBLOCK ECONNRESET EPIPE);
use IO::Select;
use IO::Socket::INET;
use Digest::SHA qw(sha1);
use MIME::Base64 qw(encode_base64 decode_base64);
use Mojo::JSON qw(encode_json decode_json);
use Socket qw(SOL_SOCKET SO_RCVBUF IPPROTO_TCP TCP_NODELAY
              pack_sockaddr_in inet_aton);
use Time::HiRes qw(time sleep);

sub connect {
    my ($class, $port, $path, $headers, %o) = @_;
    my $s = IO::Socket::INET->new(Proto => 'tcp')
        or die "raw_connect: socket: $!";
    if ($o{rcvbuf}) {
        setsockopt($s, SOL_SOCKET, SO_RCVBUF, pack('i', $o{rcvbuf}))
            or die "SO_RCVBUF: $!";
    }
    setsockopt($s, IPPROTO_TCP, TCP_NODELAY, pack('i', 1));
    $s->connect(pack_sockaddr_in($port, inet_aton('127.0.0.1')))
        or die "raw_connect 127.0.0.1:$port: $!";
    $s->blocking(1);
    binmode $s;
    my $r = bless { sock => $s, buf => '', eof => 0, port => $port }, $class;

    my $key = $o{key} // encode_base64(join('', map { chr int rand 256 }
                                            1 .. 16), '');
    $r->{key} = $key;
    my $req;
    if (defined $o{request}) {
        $req = $o{request};
    } else {
        my @h;
        if (!$o{no_defaults}) {
            @h = ([Host => "127.0.0.1:$port"], [Upgrade => 'websocket'],
                  [Connection => 'Upgrade'], ['Sec-WebSocket-Key' => $key],
                  ['Sec-WebSocket-Version' => 13]);
        }
        if (ref $headers eq 'HASH') {
            for my $k (sort keys %$headers) {
                my @same = grep { lc $_->[0] eq lc $k } @h;
                if (@same) {
                    if (defined $headers->{$k}) {
                        $_->[1] = $headers->{$k} for @same;
                    } else {
                        @h = grep { lc $_->[0] ne lc $k } @h;
                    }
                } elsif (defined $headers->{$k}) {
                    push @h, [$k => $headers->{$k}];
                }
            }
        } elsif (ref $headers eq 'ARRAY') {
            push @h, @$headers;
        }
        $req = ($o{method} // 'GET') . " $path HTTP/1.1\r\n"
            . join('', map { "$_->[0]: $_->[1]\r\n" } @h) . "\r\n";
        $req .= $o{body} if defined $o{body};
    }
    $r->write($req);
    $r->read_response($o{timeout} // 5) unless $o{no_response};
    return $r;
}

sub sock   { $_[0]{sock} }
sub status { $_[0]{status} }
sub status_line { $_[0]{status_line} }
sub body   { $_[0]{body} }
sub json   { my $r = shift; eval { decode_json($r->{body}) } }
sub header {
    my ($r, $name) = @_;
    my $v = $r->{headers}{lc $name};
    return undef unless $v;
    return join ', ', @$v;
}
sub expected_accept {
    my $r = shift;
    return encode_base64(sha1($r->{key} . $ChatTest::WS_GUID), '');
}

# reads more bytes into the buffer; returns bytes read, 0 on EOF / reset,
# undef on timeout
sub fill {
    my ($r, $timeout) = @_;
    return 0 if $r->{eof};
    my $sel = IO::Select->new($r->{sock});
    my $end = time + ($timeout // 5);
    while (1) {
        my $left = $end - time;
        return undef if $left <= 0;
        next unless $sel->can_read($left);
        my $n = sysread $r->{sock}, my $chunk, 65536;
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN;
            $r->{reset} = 1 if $! == ECONNRESET;
            $r->{error} = "$!";
            $r->{eof} = 1;
            return 0;
        }
        if ($n == 0) {
            $r->{eof} = 1;
            return 0;
        }
        $r->{buf} .= $chunk;
        return $n;
    }
}

sub read_response {
    my ($r, $timeout) = @_;
    my $end = time + $timeout;
    while ($r->{buf} !~ /\r\n\r\n/) {
        my $n = $r->fill($end - time);
        last unless $n;
    }
    my $i = index $r->{buf}, "\r\n\r\n";
    if ($i < 0) {
        $r->{status} = 0;
        return;
    }
    my $head = substr $r->{buf}, 0, $i + 4, '';
    my @lines = split /\r\n/, $head;
    $r->{status_line} = shift @lines;
    ($r->{status}) = $r->{status_line} =~ m{^HTTP/1\.[01] (\d{3})};
    $r->{status} //= 0;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*?)\s*$/ or next;
        push @{ $r->{headers}{lc $k} }, $v;
    }
    return if $r->{status} == 101;
    # a body: Content-Length, chunked, or until EOF
    if (defined(my $len = $r->header('Content-Length'))) {
        while (length $r->{buf} < $len) {
            last unless $r->fill($end - time);
        }
        $r->{body} = substr $r->{buf}, 0, $len, '';
    } elsif (($r->header('Transfer-Encoding') // '') =~ /chunked/i) {
        my $body = '';
        while (1) {
            while ($r->{buf} !~ /\r\n/) { last unless $r->fill($end - time) }
            $r->{buf} =~ s/^([0-9a-fA-F]+)[^\r]*\r\n// or last;
            my $n = hex $1;
            while (length $r->{buf} < $n + 2) {
                last unless $r->fill($end - time);
            }
            $body .= substr $r->{buf}, 0, $n, '';
            substr $r->{buf}, 0, 2, '';
            last if $n == 0;
        }
        $r->{body} = $body;
    } else {
        1 while $r->fill($end - time);
        $r->{body} = delete $r->{buf};
        $r->{buf} = '';
    }
}

sub write {
    my ($r, $bytes) = @_;
    my $off = 0;
    while ($off < length $bytes) {
        my $n = syswrite $r->{sock}, $bytes, length($bytes) - $off, $off;
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN;
            $r->{write_error} = "$!";
            return undef;
        }
        $off += $n;
    }
    return $off;
}

sub frame_bytes {
    my ($opcode, $payload, %o) = @_;
    $payload //= '';
    my $fin = $o{fin} // 1;
    my $mask = $o{mask} // 1;
    my $rsv = $o{rsv} // 0;
    my $len = $o{length} // length $payload;
    my $b = chr((($fin ? 1 : 0) << 7) | (($rsv & 7) << 4) | ($opcode & 15));
    my $m = $mask ? 0x80 : 0;
    my $enc = $o{len_bits} // ($len < 126 ? 7 : $len < 65536 ? 16 : 64);
    if ($enc == 7) {
        $b .= chr($m | $len);
    } elsif ($enc == 16) {
        $b .= chr($m | 126) . pack('n', $len);
    } else {
        $b .= chr($m | 127) . pack('Q>', $len);
    }
    if ($mask) {
        my $key = $o{mask_key} // pack('N', int rand 2**32);
        my $k = substr($key x (int(length($payload) / 4) + 1), 0,
                       length $payload);
        $b .= $key . ($payload ^ $k);
    } else {
        $b .= $payload;
    }
    return $b;
}

# send_frame(opcode, payload, fin => 1, mask => 1, rsv => 0 (3 bits),
#            split => [sizes] | N (pieces of N bytes), length => N (lie),
#            len_bits => 7|16|64, pause => seconds between pieces)
sub send_frame {
    my ($r, $opcode, $payload, %o) = @_;
    my $bytes = frame_bytes($opcode, $payload, %o);
    return $r->send_raw($bytes, %o);
}

sub send_raw {
    my ($r, $bytes, %o) = @_;
    my $split = $o{split};
    return $r->write($bytes) unless $split;
    my @sizes = ref $split ? @$split : ();
    my $off = 0;
    my $total = 0;
    while ($off < length $bytes) {
        my $n = ref $split ? (shift(@sizes) // length($bytes) - $off) : $split;
        my $w = $r->write(substr $bytes, $off, $n);
        return undef unless defined $w;
        $total += $w;
        $off += $n;
        # pacing, so that the pieces leave as separate TCP segments
        sleep($o{pause} // 0.001) if $off < length $bytes;
    }
    return $total;
}

sub send_text {
    my ($r, $text, %o) = @_;
    $r->send_frame(1, $text, %o);
}

sub send_json {
    my ($r, $obj, %o) = @_;
    $r->send_frame(1, encode_json($obj), %o);
}

sub send_close {
    my ($r, $code, $reason, %o) = @_;
    my $p = defined $code ? pack('n', $code) : '';
    $p .= $reason if defined $reason;
    $r->send_frame(8, $p, %o);
}

# Next server frame: {opcode, fin, rsv, masked, payload}; undef on timeout
# or EOF (then ->is_eof is true).
sub read_frame {
    my ($r, $timeout) = @_;
    my $end = time + ($timeout // 5);
    while (1) {
        my $f = $r->parse_frame;
        return $f if $f;
        my $n = $r->fill($end - time);
        return undef unless $n;
    }
}

sub parse_frame {
    my $r = shift;
    my $b = \$r->{buf};
    return undef if length $$b < 2;
    my ($b0, $b1) = unpack 'CC', $$b;
    my $len = $b1 & 0x7f;
    my $masked = $b1 & 0x80;
    my $p = 2;
    if ($len == 126) {
        return undef if length $$b < 4;
        $len = unpack 'n', substr $$b, 2, 2;
        $p = 4;
    } elsif ($len == 127) {
        return undef if length $$b < 10;
        $len = unpack 'Q>', substr $$b, 2, 8;
        $p = 10;
    }
    my $key = '';
    if ($masked) {
        return undef if length $$b < $p + 4;
        $key = substr $$b, $p, 4;
        $p += 4;
    }
    return undef if length $$b < $p + $len;
    substr $$b, 0, $p, '';
    my $payload = substr $$b, 0, $len, '';
    if ($masked) {
        $payload ^= substr($key x (int($len / 4) + 1), 0, $len);
    }
    return { fin => ($b0 >> 7) & 1, rsv => ($b0 >> 4) & 7,
             opcode => $b0 & 15, masked => $masked ? 1 : 0,
             payload => $payload, length => $len };
}

# Next complete data message as decoded JSON (answers pings, skips pongs);
# undef on timeout / EOF / close (a close is kept in ->{close}).
sub read_json {
    my ($r, $timeout) = @_;
    my $end = time + ($timeout // 5);
    my $msg = '';
    while (1) {
        my $f = $r->read_frame($end - time) or return undef;
        if ($f->{opcode} == 9) { $r->send_frame(10, $f->{payload}); next }
        next if $f->{opcode} == 10;
        if ($f->{opcode} == 8) { $r->{close} = $f; return undef }
        $msg .= $f->{payload};
        next unless $f->{fin};
        my $j = eval { decode_json($msg) };
        return $j // { type => '_invalid_json', raw => $msg };
    }
}

# Reads frames up to a close frame; returns (code, reason) of it; () when
# the connection ended or the timeout passed without one; (undef, '') for
# an empty close payload.  Skipped frames land in ->{skipped}.
sub read_close {
    my ($r, $timeout) = @_;
    my $end = time + ($timeout // 5);
    while (1) {
        my $f = $r->read_frame($end - time);
        return () unless $f;
        if ($f->{opcode} == 8) {
            $r->{close} = $f;
            return (undef, '') if length $f->{payload} < 2;
            return (unpack('n', $f->{payload}), substr($f->{payload}, 2));
        }
        push @{ $r->{skipped} }, $f;
    }
}

# True when the peer closed the TCP connection (EOF or reset) within
# $timeout; data arriving meanwhile is kept in the buffer.
sub is_eof {
    my ($r, $timeout) = @_;
    my $end = time + ($timeout // 5);
    while (!$r->{eof}) {
        my $n = $r->fill($end - time);
        last unless defined $n;
    }
    return $r->{eof};
}

sub close { my $r = shift; CORE::close($r->{sock}) }

1;

# =========================================================================
# Helpers added for the history, cursor and REST tests (t/2*.t).

package ChatTest;

push @EXPORT, qw(api psql worker_of is_api_error close_all);

# api($nginx, METHOD, '/rooms/x', %o) -> as http_request, against the API
# location.  o: user => 'alice' (a fresh token for that sub; default
# alice), name => display name claim, token => $jwt (as given),
# no_auth => 1 (no Authorization header), auth => 'raw header value',
# json => $body, body => 'raw', headers => {}, timeout => s
sub api {
    my ($ng, $method, $path, %o) = @_;
    my %h = %{ $o{headers} // {} };
    if (defined $o{auth}) {
        $h{Authorization} = $o{auth};
    } elsif (!$o{no_auth}) {
        my $tok = $o{token} // token(sub => $o{user} // 'alice',
                                     defined $o{name} ? (name => $o{name}) : ());
        $h{Authorization} = "Bearer $tok";
    }
    my %req = (headers => \%h);
    $req{json} = $o{json} if exists $o{json};
    $req{body} = $o{body} if exists $o{body};
    $req{timeout} = $o{timeout} if $o{timeout};
    return http_request($method, $ng->api_url . $path, %req);
}

# is_api_error($res, $status, $code, $name): the status and the error body
# {"error":{"code":CODE,"message":TEXT}} (code undef: any string).
sub is_api_error {
    my ($r, $status, $code, $name) = @_;
    my $tb = Test::More->builder;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $j = $r->{json};
    my $e = ref $j eq 'HASH' ? $j->{error} : undef;
    my @why;
    push @why, "status $r->{status}, want $status" if $r->{status} != $status;
    if (ref $e ne 'HASH' || join(',', sort keys %$j) ne 'error') {
        push @why, 'body is not {"error":{...}}: ' . ($r->{body} // '');
    } else {
        push @why, "code " . ($e->{code} // 'undef') . ", want $code"
            if defined $code && ($e->{code} // '') ne $code;
        push @why, 'code is not a string'
            if !defined $code && !(defined $e->{code} && !ref $e->{code}
                                   && length $e->{code});
        push @why, 'no message'
            unless defined $e->{message} && !ref $e->{message}
                   && length $e->{message};
    }
    my $ok = $tb->ok(!@why, $name);
    $tb->diag(join "\n", @why) unless $ok;
    return $ok;
}

# psql($conninfo, $sql): runs $sql (ON_ERROR_STOP), returns its unaligned
# tuples-only output without the last newline; dies when psql fails.
sub psql {
    my ($conninfo, $sql) = @_;
    my $out = `psql @{[quote($conninfo)]} -qtAX -v ON_ERROR_STOP=1 -c @{[quote($sql)]} 2>&1`;
    die "psql failed: $out\n" if $?;
    chomp $out;
    return $out;
}

# worker_of($nginx, @ws_clients): the pid of the nginx worker holding each
# client's connection (from ss -tnp), undef where ss does not tell.
sub worker_of {
    my ($ng, @c) = @_;
    my %pid;
    my $port = $ng->port;
    for (`ss -tnpH state established '( sport = :$port )' 2>/dev/null`) {
        my (undef, undef, $local, $peer) = split ' ';
        my ($cport) = ($peer // '') =~ /:(\d+)$/ or next;
        $pid{$cport} = $1 if /pid=(\d+)/;
    }
    return map { $pid{ $_->tx->local_port // 0 } } @c;
}

# close_all(@ws_clients): closes them and runs the event loop until their
# TCP connections are gone too (so that a following nginx stop does not
# wait for them).
sub close_all {
    my @c = grep { $_ && $_->{tx} } @_;
    my $loop = Mojo::IOLoop->singleton;
    $_->close for @c;
    run_loop(sub {
        !grep { my $id = $_->{tx}->connection;
                $id && $loop->stream($id) } @c
    }, 5);
}

package ChatTest::WS;

# Drops the TCP connection without a close frame (a client that vanishes).
sub drop {
    my $c = shift;
    return if $c->{closed};
    my $loop = Mojo::IOLoop->singleton;
    my $stream = $loop->stream($c->{tx}->connection);
    $stream ? $stream->close : $loop->remove($c->{tx}->connection);
    ChatTest::run_loop(sub { $c->{closed} }, 5);
}

1;
