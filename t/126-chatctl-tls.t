# chatctl over TLS: https:// for REST and wss:// for WebSocket, against an
# nginx listening with ssl and a certificate of a test CA.  The
# certificate is checked (--cacert trusts the CA; without it, exit 2),
# for an address as for a name; --insecure skips the check.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Mojo::JSON qw(decode_json);
use ChatTest;
use ChatTest::Ctl qw(ctl ctl_bg ctl_bin);
use ChatTest::Env qw(tmpdir sh);

plan skip_all => 'build/chatctl is not built' unless -x ctl_bin();

# a CA, and a server certificate for 127.0.0.1 and localhost
my $d = tmpdir() . '/tls';
mkdir $d;
chmod 0755, $d;
sh('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
   'ec_paramgen_curve:P-256', '-nodes', '-keyout', "$d/ca.key",
   '-out', "$d/ca.pem", '-days', '2', '-subj', '/CN=chatctl test CA');
sh('openssl', 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
   '-nodes', '-keyout', "$d/srv.key", '-out', "$d/srv.csr",
   '-subj', '/CN=127.0.0.1');
open my $f, '>', "$d/ext" or die $!;
print $f "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
close $f;
sh('openssl', 'x509', '-req', '-in', "$d/srv.csr", '-CA', "$d/ca.pem",
   '-CAkey', "$d/ca.key", '-CAcreateserial', '-out', "$d/srv.pem",
   '-days', '2', '-extfile', "$d/ext");
chmod 0644, glob "$d/*";

my $ng = start_nginx(workers => 1, listen => 'ssl',
    server => "ssl_certificate $d/srv.pem; ssl_certificate_key $d/srv.key;");
my $https = 'https://127.0.0.1:' . $ng->port;
my $room = rand_room('tls');
my $u = sprintf 's%d%04x', $$, int rand 65536;

my $r = ctl($https, user => $u, 'send', $room, 'over tls', '--cacert',
            "$d/ca.pem");
is $r->{rc}, 0, 'send over https:// with --cacert: exit 0'
    or diag $r->{err};
is $r->{out}, "1\n", 'acknowledged';

$r = ctl($https, user => $u, 'tail', $room, '--json', '--since-rev', '0',
         '--count', '2', '--cacert', "$d/ca.pem");
is $r->{rc}, 0, 'tail over wss://: exit 0' or diag $r->{err};
my @m = grep { $_->{type} eq 'message' } map { decode_json($_) }
    @{ $r->{lines} };
is $m[0]{body}, 'over tls', 'replays the message';

# many frames, in both directions: join sends lines, tail replays them
$r = ctl($https, user => $u,
         stdin => join('', map { "wss line $_\n" } 1 .. 40), 'join', $room, '--cacert', "$d/ca.pem");
is $r->{rc}, 0, 'join over wss:// sends 40 lines: exit 0' or diag $r->{err};
$r = ctl($https, user => $u, 'tail', $room, '--json', '--since-rev', '0',
         '--count', '42', '--cacert', "$d/ca.pem");
is $r->{rc}, 0, 'tail over wss:// replays them: exit 0' or diag $r->{err};
@m = grep { $_->{type} eq 'message' } map { decode_json($_) }
    @{ $r->{lines} };
is_deeply [map { $_->{body} } @m],
    ['over tls', map { "wss line $_" } 1 .. 40],
    'every message once, in order (each frame written once over TLS)';

$r = ctl('https://localhost:' . $ng->port, user => $u,
         env => { CHATCTL_CACERT => "$d/ca.pem" }, 'history', $room);
is $r->{rc}, 0, 'a host name (localhost), CA from CHATCTL_CACERT';

$r = ctl($https, user => $u, 'rooms');
is $r->{rc}, 2, 'an untrusted certificate: exit 2';
like $r->{err}, qr/^chatctl: unavailable: TLS .*certificate/m,
    'chatctl: unavailable: TLS ...: certificate ...';

$r = ctl($https, user => $u, 'rooms', '--insecure');
is $r->{rc}, 0, '--insecure: exit 0';

$r = ctl('http://127.0.0.1:' . $ng->port, user => $u, 'rooms');
ok $r->{rc} != 0, 'plain http:// to a TLS port fails';

done_testing;
