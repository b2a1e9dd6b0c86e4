# A checkout anywhere: scripts/stack.sh (make up / down) and the test
# backends work from a directory that the postgres user and nginx's
# workers cannot enter (as root's home), a second "up" says so and exits
# 0, NGINX in the environment does not keep nginx in the foreground, and
# "make token" without USER= gives alice whatever the shell's USER.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;
use MIME::Base64 qw(decode_base64url);
use Mojo::JSON qw(decode_json);

plan skip_all => 'needs root (runuser, a stack of its own)' if $> != 0;

my $root = repo_root();
my $tmp = ChatTest::tmpdir();
my $private = "$tmp/private";
mkdir $private or die $!;
chmod 0700, $private;
isnt system("runuser -u postgres -- test -x $private"), 0,
    'postgres cannot enter the private directory';
isnt system("runuser -u nobody -- test -x $private"), 0,
    'nobody cannot enter the private directory';

# a checkout there: what stack.sh uses, and the built module and tool
my $co = "$private/checkout";
mkdir $co or die $!;
mkdir "$co/build" or die $!;
system('cp', '-r', map("$root/$_", qw(scripts conf sql web)), $co) == 0
    or die 'cp failed';
system('cp', "$root/build/ngx_chat_module.so", "$root/build/chat-token",
       "$co/build/") == 0 or die 'cp failed';

my ($pg, $redis, $http) = (free_port(), free_port(), free_port());
local $ENV{CHAT_PG_PORT} = $pg;
local $ENV{CHAT_REDIS_PORT} = $redis;
local $ENV{CHAT_HTTP_PORT} = $http;
# state outside the checkout goes under this test's directory
local $ENV{CHAT_STATE_BASE} = "$tmp/state";
# what the old stack.sh documented as its own setting
local $ENV{NGINX} = '/usr/sbin/nginx';

# runs a command with a time limit; (exit status, output); status 124 is
# the time limit
sub run {
    my ($limit, @cmd) = @_;
    my $out = `timeout -k 5 $limit @{[join ' ', map { ChatTest::quote($_) } @cmd]} 2>&1`;
    return ($? >> 8, $out);
}

my $stack = "$co/scripts/stack.sh";
my ($stack_up, $be_up);
END {
    local $?;
    system("$stack down >/dev/null 2>&1") if $stack_up;
    system("$root/t/lib/backends.sh stop $be_up >/dev/null 2>&1") if $be_up;
}

$stack_up = 1;
my ($rc, $out) = run(180, $stack, 'up');
is $rc, 0, 'stack.sh up from a private checkout, NGINX set: exits 0'
    or diag $out;
like $out, qr/ngx_chat is up/, 'it says it is up';

my $state = readlink "$co/run";
ok defined $state && $state =~ m{^\Q$tmp/state/\E}, 'run is a link to '
    . 'a directory outside the checkout' or diag $state // 'not a link';
like `$stack rundir`, qr{^\Q$tmp/state/\E}, 'stack.sh rundir prints it';

my $url = "http://127.0.0.1:$http";
ok wait_until(sub {
    my $r = http_get("$url/chat/api/health");
    $r->{status} == 200 && $r->{json} && $r->{json}{postgres} eq 'up'
}, 30), 'health: 200, PostgreSQL up';

my $page = http_get("$url/");
is $page->{status}, 200, 'the demo page is served';
like $page->{body}, qr/<html/i, 'it is the page';

my $trace = raw_connect($http, '/', undef, timeout => 10,
    request => "TRACE /chat/api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
is $trace->status, 405, 'the demo config: TRACE gets 405';
like $trace->body, qr/^\{"error":\{"code":"bad_request"/, '... as JSON';

($rc, $out) = run(60, $stack, 'up');
is $rc, 0, 'a second up exits 0';
like $out, qr/already running/, 'and says the stack is already running';

# make token: USER from the environment is not the token's user
sub token_sub {
    my (@args) = @_;
    local $ENV{USER} = 'root';
    delete local $ENV{MAKEFLAGS};
    my ($rc, $tok) = run(60, 'make', '-s', '-C', $root, 'token',
                         "RUN=$co/run", @args);
    return "exit $rc: $tok" if $rc;
    chomp $tok;
    my (undef, $payload) = split /\./, $tok;
    my $claims = eval { decode_json(decode_base64url($payload // '')) };
    return $claims ? $claims->{sub} : "no token: $tok";
}

is token_sub(), 'alice', 'make token with USER=root in the environment: alice';
is token_sub('USER=bob'), 'bob', 'make token USER=bob: bob';

{
    local $ENV{USER} = 'root';
    delete local $ENV{MAKEFLAGS};
    chomp(my $tok = `make -s -C $root token RUN=$co/run`);
    my $r = http_get("$url/chat/api/rooms",
                     headers => { Authorization => "Bearer $tok" });
    is $r->{status}, 200, "the stack takes make token's token";
}

my $nginx_pid = do { local (@ARGV, $/) = ("$co/run/nginx.pid"); <> };
chomp $nginx_pid;
($rc, $out) = run(120, $stack, 'down');
is $rc, 0, 'stack.sh down exits 0' or diag $out;
$stack_up = 0;
ok !ChatTest::pid_alive($nginx_pid), 'nginx is gone';
ok !ChatTest::port_open($pg), 'PostgreSQL is gone';
ok !ChatTest::port_open($redis), 'Redis is gone';

# the test backends from a private directory
{
    local $ENV{CHAT_TEST_PG_PORT} = free_port();
    local $ENV{CHAT_TEST_REDIS_PORT} = free_port();
    my $be = $be_up = "$private/backends";
    ($rc, $out) = run(180, "$root/t/lib/backends.sh", 'start', $be);
    is $rc, 0, 'backends.sh start in a private directory' or diag $out;
    ok -l $be, 'the directory links outside';
    my %env = map { /^(\w+)=(.*)$/ ? ($1, $2) : () }
        split /\n/, do { local (@ARGV, $/) = ("$be/env"); <> // '' };
    is ChatTest::psql("host=127.0.0.1 port=$env{CHAT_PG_PORT} dbname=chat "
                      . 'user=chat', 'select 1'), 1, 'its PostgreSQL answers';
    ($rc, $out) = run(120, "$root/t/lib/backends.sh", 'stop', $be);
    is $rc, 0, 'backends.sh stop' or diag $out;
    $be_up = undef;
}

done_testing;
