package ChatTest::Nginx;

# An nginx with the module, configured for a test: its nginx.conf, start,
# reload, stop (checking that no worker crashed), its logs; and every nginx
# this process started, stopped at the end.

use strict;
use warnings;

use File::Temp qw(tempdir);
use Test::More ();
use Time::HiRes qw(time sleep);

use ChatTest::Backends qw(backends psql);
use ChatTest::Env qw($SELFTEST $MODULE $NGINX tmpdir keep_tmp free_port
                     port_open pid_alive children_of command_line);
use ChatTest::Token qw(secret_file);
use ChatTest::Wait qw(wait_until);

my @NGINX;          # every started nginx

# ChatTest::Nginx->launch(%opts):
#   workers => 2, http => 'text', loc => 'text' (in location /chat/ws),
#   api_loc => 'text', server => 'text', main => 'text',
#   redis => 'host:port', pg => 'conninfo',
#   keys => [[ALG, file], ...]  (default [[HS256, the harness secret]]),
#   listen => 'reuseport ...' (extra listen parameters), port => N,
#   errors => 0 (no error_page to the chat_errors location),
#   user_send_rate => 'default' (the module's own chat_user_send_rate)
#   worker_connections => 1024, log_level => 'info' (of error.log)
#   conf => sub { my ($n) = @_; ... } (the whole nginx.conf, made from
#           $n->dir, $n->port and the workers: the options above then
#           do not apply)
#
# Tests send many messages quickly as one user: unless a test sets
# chat_user_send_rate itself (or asks for the default), the per-user send
# rate is set far above what any test sends.
sub launch {
    my ($class, %o) = @_;
    my $n = bless { opts => \%o }, $class;
    my $dir = tempdir('nginx-XXXXXX', DIR => tmpdir(), CLEANUP => !keep_tmp());
    chmod 0755, $dir;
    $n->{dir} = $dir;
    $n->{port} = $o{port} // free_port();
    $n->{workers} = $o{workers} // 2;
    $n->write_conf;
    push @NGINX, $n;
    $n->start;
    return $n;
}

# At the end: stops every nginx still running; with $logs, shows the
# errors each logged.
sub stop_all {
    my ($class, $logs) = @_;
    for my $n (@NGINX) {
        next unless $n->{running};
        $n->stop(quiet => 1);
    }
    return unless $logs;
    for my $n (@NGINX) {
        my @l = grep { /\[(emerg|alert|crit|error)\]|exited on signal/ }
            split /\n/, $n->error_log;
        splice @l, 0, @l - 30 if @l > 30;
        Test::More::diag("nginx $n->{dir} error.log:\n  "
            . join("\n  ", @l)) if @l;
    }
}

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
    return $n->write_file($o{conf}->($n)) if $o{conf};
    my $self = $SELFTEST;
    my $conf = '';
    if (!$self) {
        die "the module $MODULE is not built\n"
            unless -f $MODULE;
        $conf .= "load_module $MODULE;\n";
    }
    $conf .= "user root;\n" if $< == 0;
    $conf .= <<"CONF";
worker_processes $n->{workers};
error_log $d/error.log @{[$o{log_level} // 'info']};
pid $d/nginx.pid;
daemon on;
master_process on;
events { worker_connections @{[$o{worker_connections} // 1024]}; }
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
        my $b = backends();
        my $redis = $o{redis} // $b->{redis};
        my $pg = $o{pg} // $b->{conninfo};
        my @keys = @{ $o{keys} // [[HS256 => secret_file()]] };
        $conf .= "    chat_redis $redis;\n";
        # its pool's connections are told apart in pg_stat_activity
        $pg .= ' application_name=' . $n->pg_name
            unless $pg =~ m{application_name|://};
        $conf .= "    chat_postgres \"$pg\";\n";
        $conf .= "    chat_jwt_key $_->[0] $_->[1];\n" for @keys;
        $conf .= "    chat_user_send_rate 100000r/s burst=100000;\n"
            unless ($o{user_send_rate} // '') eq 'default'
            || grep { ($o{$_} // '') =~ /chat_user_send_rate/ }
                    qw(http server loc api_loc);
        ($ws, $api) = ('chat_ws;', 'chat_api;');
    } else {
        secret_file();
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
    $n->write_file($conf);
}

sub write_file {
    my ($n, $conf) = @_;
    my $file = "$n->{dir}/nginx.conf";
    open my $f, '>', $file or die "$file: $!";
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
        psql($conninfo, 'select count(*) from pg_stat_activity '
                       . "where application_name = '$name' and state = 'idle'")
    } // -1;
    return $got == $want;
}

sub nginx_cmd {
    my $n = shift;
    return ($NGINX, '-p', "$n->{dir}/", '-c', "$n->{dir}/nginx.conf",
            '-e', "$n->{dir}/error.log");
}

sub start {
    my $n = shift;
    my $d = $n->{dir};
    unlink "$d/nginx.pid";
    local %ENV = %ENV;
    delete $ENV{NGINX};
    my $out = `@{[command_line($n->nginx_cmd)]} 2>&1`;
    if ($?) {
        die "nginx failed to start: $out\n" . $n->log_tail(20);
    }
    wait_until(sub { -s "$d/nginx.pid" }, 10)
        or die "nginx wrote no pid file\n" . $n->log_tail(20);
    open my $f, '<', "$d/nginx.pid" or die $!;
    chomp(my $pid = <$f>);
    close $f;
    $n->{pid} = $pid;
    $n->{running} = 1;
    wait_until(sub {
        port_open($n->{port}) || !pid_alive($pid)
    }, 10);
    die "nginx is not accepting on $n->{port}\n" . $n->log_tail(20)
        unless pid_alive($pid) && port_open($n->{port});
    wait_until(sub { $n->worker_pids >= $n->{workers} }, 10);
    return $n;
}

sub worker_pids {
    my $n = shift;
    return () unless $n->{pid};
    return children_of($n->{pid});
}

sub alive { pid_alive($_[0]{pid}) }

# -s reload (HUP) and wait until a full set of new workers runs.
sub reload {
    my ($n, %o) = @_;
    $n->write_conf if $o{rewrite};
    my %old = map { $_ => 1 } $n->worker_pids;
    CORE::kill 'HUP', $n->{pid} or die "reload: kill: $!";
    my $ok = wait_until(sub {
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
    my $ok = wait_until(sub { !pid_alive($pid) },
                                   $o{timeout} // 10);
    if (!$ok) {
        Test::More::diag("nginx $pid did not quit in time; killing it");
        CORE::kill 'KILL', $_ for $pid, $n->worker_pids, @workers;
        wait_until(sub { !pid_alive($pid) }, 5);
    }
    $n->{running} = 0;
    wait_until(sub { !grep { pid_alive($_) } @workers },
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
    wait_until(sub { !pid_alive($n->{pid}) }, 5);
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

# ChatTest::Nginx->check_conf($dir, $http, $server): "nginx -t" of a
# configuration in $dir that loads the module, with that text in its http
# and server blocks; returns (passed, nginx's output)
sub check_conf {
    my ($class, $dir, $http, $server) = @_;
    my $conf = "$dir/t.conf";
    open my $c, '>', $conf or die $!;
    print $c <<"CONF";
load_module $MODULE;
error_log $dir/t.log;
pid $dir/t.pid;
events { worker_connections 64; }
http {
    access_log off;
    $http
    server {
        listen 127.0.0.1:1;
        $server
    }
}
CONF
    close $c;
    my $out = `$NGINX -t -p $dir -c $conf -e $dir/t.log 2>&1`;
    return ($? == 0, $out);
}

# make test-asan, make test-valgrind: checks of each nginx's reports
require ChatTest::Sanitize if $ENV{CHAT_SANITIZE};

1;
