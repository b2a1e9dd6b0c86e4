# chatctl configuration and tokens: flags override the environment, which
# overrides the config file; "chatctl token" mints a token the gateway
# accepts (with the key given or named in the config); register, login,
# refresh and logout against a stand-in of the accounts API (protocol.md section 10):
# the tokens are stored in the config file (0600), an expired access
# token is refreshed before a call, a refused one after it, a spent
# refresh token means "log in again" (exit 3).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Mojo::Server::Daemon;
use Mojolicious;
use POSIX ();
use ChatTest;
use ChatTest::Ctl qw(ctl ctl_bin);
use ChatTest::Env qw(tmpdir port_open);
use ChatTest::Token qw(secret_file);

plan skip_all => 'build/chatctl is not built' unless -x ctl_bin();

my $ng = start_nginx(workers => 1);
my $tag = sprintf 'f%d%04x', $$, int rand 65536;
my $room = rand_room('conf');
my $n = 0;

sub conf_file {
    my $f = tmpdir() . "/ctl-conf-$$-" . ++$n;
    open my $h, '>', $f or die $!;
    print $h @_;
    close $h;
    return $f;
}

sub slurp { open my $h, '<', shift or return ''; local $/; <$h> // '' }

my $tok = token(sub => "${tag}u");
my $dead = 'http://127.0.0.1:' . free_port();

# ---- the file alone
my $f = conf_file("# chatctl\nurl = ", $ng->url, "\ntoken = $tok\n",
                  "api_path = /chat/api/\n");
my $r = ctl(undef, env => { CHATCTL_CONFIG => $f }, 'send', $room, 'file');
is $r->{rc}, 0, 'URL and token from the config file' or diag $r->{err};

# ---- the environment over the file, flags over the environment
$f = conf_file("url = $dead\ntoken = bad\n");
$r = ctl($ng, jwt => $tok, env => { CHATCTL_CONFIG => $f }, 'rooms');
is $r->{rc}, 0, 'CHATCTL_URL and CHATCTL_TOKEN override the file';
$r = ctl($dead, jwt => 'bad', env => { CHATCTL_CONFIG => $f },
         '--url', $ng->url, '--token', $tok, 'rooms');
is $r->{rc}, 0, '--url and --token override the environment';
$r = ctl($dead, jwt => 'bad', env => { CHATCTL_CONFIG => $f }, 'rooms',
         '--url', $ng->url, '--token', $tok);
is $r->{rc}, 0, 'also after the command';
$r = ctl($ng, jwt => $tok, 'rooms', '--api-path', '/nowhere');
is $r->{rc}, 4, '--api-path is used (404 elsewhere)';
$r = ctl($ng, jwt => $tok, 'tail', $room, '--ws-path', '/nowhere');
ok $r->{rc} != 0, '--ws-path is used';
$r = ctl(undef, env => { CHATCTL_CONFIG => conf_file("url\n") }, 'rooms');
is $r->{rc}, 1, 'a bad config line: exit 1';
like $r->{err}, qr/^chatctl: config: .*:1: want "key = value"/m,
    'says where';
$r = ctl(undef, env => { CHATCTL_URL => 'ftp://x' }, jwt => $tok, 'rooms');
is $r->{rc}, 1, 'a bad URL: exit 1';

# ---- chatctl token: minted with the gateway's key, accepted
$r = ctl(undef, 'token', '--key', secret_file(), '--sub', "${tag}t",
         '--roles', 'moderator');
is $r->{rc}, 0, 'chatctl token --key FILE --sub U: exit 0';
my ($minted) = @{ $r->{lines} };
is ctl($ng, jwt => $minted, 'rooms')->{rc}, 0, 'the gateway accepts it';
my $claims = Mojo::JSON::decode_json(MIME::Base64::decode_base64url(
    (split /\./, $minted)[1]));
is $claims->{sub}, "${tag}t", 'sub';
is_deeply $claims->{roles}, ['moderator'], 'roles';
$f = conf_file('key = ', secret_file(), "\n");
$r = ctl(undef, env => { CHATCTL_CONFIG => $f }, 'token', '--sub', 'k');
is $r->{rc}, 0, 'the key named in the config file (key = FILE)';
is ctl($ng, jwt => $r->{lines}[0], 'rooms')->{rc}, 0, 'accepted too';
$r = ctl(undef, 'token', '--sub', 'k');
is $r->{rc}, 1, 'no key: exit 1';
like $r->{err}, qr/--key/, 'says --key is needed';

# ---- login, refresh, logout against a stand-in of the accounts API
my $port = free_port();
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    my $app = Mojolicious->new;
    $app->log->level('fatal');
    my ($gen, %refresh) = (1, R1 => 0);
    my $issue = sub {
        my ($c, $exp) = @_;
        $gen++;
        $refresh{"R$gen"} = 0;
        $c->render(json => { access_token => "A$gen", expires_at => $exp,
                             refresh_token => "R$gen" });
    };
    my $r = $app->routes;
    $r->post('/chat/api/auth/register' => sub {
        my $c = shift;
        my $j = $c->req->json // {};
        return $c->render(status => 409, json => { error => {
            code => 'conflict', message => 'taken' } })
            if ($j->{user} // '') eq 'ann';
        return $c->render(status => 400, json => { error => {
            code => 'bad_request', message => 'not what was typed' } })
            unless ($j->{password} // '') eq 'pw of bo'
                && ($j->{name} // '') eq 'Bo Example';
        $c->render(status => 201, json => { user => $j->{user} });
    });
    $r->post('/chat/api/auth/login' => sub {
        my $c = shift;
        my $j = $c->req->json // {};
        return $c->render(status => 401, json => { error => {
            code => 'unauthenticated', message => 'bad user or password' } })
            unless ($j->{user} // '') eq 'ann'
                && ($j->{password} // '') eq 's3cret pw';
        # expired at once: the next call must refresh it first
        $issue->($c, time - 10);
    });
    $r->post('/chat/api/auth/refresh' => sub {
        my $c = shift;
        my $t = ($c->req->json // {})->{refresh_token} // '';
        return $c->render(status => 401, json => { error => {
            code => 'unauthenticated', message => 'spent' } })
            if !exists $refresh{$t} || $refresh{$t}++;
        $issue->($c, time + 3600);
    });
    $r->get('/chat/api/rooms' => sub {
        my $c = shift;
        return $c->render(json => { rooms => [] })
            if ($c->req->headers->authorization // '') eq "Bearer A$gen";
        $c->render(status => 401, json => { error => {
            code => 'unauthenticated', message => 'invalid token' } });
    });
    $r->post('/chat/api/auth/logout' => sub {
        my $c = shift;
        $gen++;
        $c->rendered(204);
    });
    Mojo::Server::Daemon->new(app => $app, silent => 1,
        listen => ["http://127.0.0.1:$port"])->run;
    POSIX::_exit(0);
}
END {
    my $rc = $?;
    if ($pid) { kill 'KILL', $pid; waitpid $pid, 0 }
    $? = $rc;
}
ok wait_until(sub { port_open($port) }), 'the stand-in listens';
my $acc = "http://127.0.0.1:$port";
my $cf = tmpdir() . "/ctl-login-$$/sub/config";
my %e = (CHATCTL_CONFIG => $cf);

$r = ctl($acc, env => \%e, stdin => "pw of bo\n", 'register', 'bo',
         '--name', 'Bo Example');
is $r->{rc}, 0, 'register USER --name NAME < password: exit 0'
    or diag $r->{err};
is $r->{out}, "registered bo; now: chatctl login bo\n", 'says so';
$r = ctl($acc, env => \%e, stdin => "pw\n", 'register', 'ann');
is $r->{rc}, 6, 'register a taken id: exit 6';
$r = ctl($acc, env => \%e, stdin => "pw\n", 'login', 'ann', '--name', 'x');
is $r->{rc}, 1, 'login takes no --name: exit 1';

$r = ctl($acc, env => \%e, stdin => "wrong\n", 'login', 'ann');
is $r->{rc}, 3, 'login with a wrong password: exit 3';
ok !-e $cf, 'nothing stored';

$r = ctl($acc, env => \%e, stdin => "s3cret pw\n", 'login', 'ann');
is $r->{rc}, 0, 'login USER < password: exit 0' or diag $r->{err};
like $r->{out}, qr/logged in as ann/, 'says so';
my $c = slurp($cf);
like $c, qr/^token = A2$/m, 'the access token is in the config file';
like $c, qr/^refresh_token = R2$/m, 'the refresh token too';
is((stat $cf)[2] & 0777, 0600, 'mode 0600');

$r = ctl($acc, env => \%e, 'rooms');
is $r->{rc}, 0, 'the next call works: the expired token was refreshed'
    or diag $r->{err};
$c = slurp($cf);
like $c, qr/^token = A3$/m, 'the new access token is stored';
like $c, qr/^refresh_token = R3$/m, 'and the new refresh token';

# the server refuses the token (say, revoked): refreshed once, retried
$c =~ s/^token = A3$/token = STALE/m;
open my $h, '>', $cf or die;
print $h $c, "# kept\n";
close $h;
$r = ctl($acc, env => \%e, 'rooms');
is $r->{rc}, 0, 'a refused token is refreshed and the call retried'
    or diag $r->{err};
$c = slurp($cf);
like $c, qr/^token = A4$/m, 'stored';
like $c, qr/^# kept$/m, 'other lines of the file are kept';

# a spent refresh token: log in again
$c =~ s/^refresh_token = R4$/refresh_token = R3/m;
$c =~ s/^token = A4$/token = STALE/m;
open $h, '>', $cf or die;
print $h $c;
close $h;
$r = ctl($acc, env => \%e, 'rooms');
is $r->{rc}, 3, 'a spent refresh token: exit 3';
like $r->{err}, qr/log in again/, 'says to log in again';

# the environment's token is used as is, never refreshed
$r = ctl($acc, env => { %e, CHATCTL_TOKEN => 'OTHER' }, 'rooms');
is $r->{rc}, 3, 'CHATCTL_TOKEN is not refreshed: exit 3';

$r = ctl($acc, env => { %e, CHATCTL_PASSWORD => 's3cret pw' }, 'login',
         'ann');
is $r->{rc}, 0, 'login with CHATCTL_PASSWORD';
$r = ctl($acc, env => \%e, 'logout');
is $r->{rc}, 0, 'logout: exit 0' or diag $r->{err};
unlike slurp($cf), qr/token/, 'the tokens are gone from the file';
is ctl($acc, env => \%e, 'rooms')->{rc}, 3, 'then: no token, exit 3';

done_testing;
