# CORS on the REST API (docs/protocol.md, REST): a browser page on an
# allowed origin may call it, preflight included; other origins get no
# CORS headers (and a 403 preflight).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $app = 'https://app.example';
my $ng = start_nginx(api_loc => "chat_allowed_origins $app;");
my $room = rand_room('cors');
my $auth = { Authorization => 'Bearer ' . token(sub => 'alice') };
my $url = $ng->api_url . "/rooms/$room/messages";

sub hdr { my ($r, $n) = @_; scalar $r->{headers}->header($n) }

# ---- preflight from an allowed origin
my $r = http_request(OPTIONS => $url, headers => {
    Origin => $app,
    'Access-Control-Request-Method' => 'POST',
    'Access-Control-Request-Headers' => 'authorization, content-type' });
is $r->{status}, 204, 'preflight from an allowed origin: 204';
is hdr($r, 'Access-Control-Allow-Origin'), $app, 'allows that origin';
like hdr($r, 'Access-Control-Allow-Methods') // '', qr/\bPOST\b/,
    'allows POST';
like hdr($r, 'Access-Control-Allow-Methods') // '', qr/\bGET\b/,
    'allows GET';
like hdr($r, 'Access-Control-Allow-Headers') // '', qr/\bAuthorization\b/i,
    'allows the Authorization header';
like hdr($r, 'Access-Control-Allow-Headers') // '', qr/\bContent-Type\b/i,
    'allows the Content-Type header';
like hdr($r, 'Access-Control-Max-Age') // '', qr/^\d+$/, 'has a max age';
like hdr($r, 'Vary') // '', qr/\bOrigin\b/, 'Vary: Origin';

# ---- preflight from another origin
$r = http_request(OPTIONS => $url, headers => {
    Origin => 'https://evil.example',
    'Access-Control-Request-Method' => 'POST' });
is $r->{status}, 403, 'preflight from another origin: 403';
ok !defined hdr($r, 'Access-Control-Allow-Origin'),
    'and no Access-Control-Allow-Origin';
is $r->{json}{error}{code}, 'forbidden', 'error forbidden';

# ---- actual calls
$r = http_request(POST => $url, headers => { %$auth, Origin => $app },
                  json => { body => 'from the browser' });
is $r->{status}, 201, 'POST from the allowed origin: 201';
is hdr($r, 'Access-Control-Allow-Origin'), $app,
    'with Access-Control-Allow-Origin';
like hdr($r, 'Access-Control-Expose-Headers') // '', qr/\bRetry-After\b/i,
    'Retry-After is exposed to the page';

$r = http_get($url, headers => { %$auth, Origin => $app });
is $r->{status}, 200, 'GET from the allowed origin: 200';
is hdr($r, 'Access-Control-Allow-Origin'), $app, 'with CORS';
is $r->{json}{messages}[0]{body}, 'from the browser', 'and the message';

$r = http_get($url, headers => { Origin => $app });
is $r->{status}, 401, 'an error for the allowed origin (no token): 401';
is hdr($r, 'Access-Control-Allow-Origin'), $app,
    'errors carry CORS too, so the page can read them';

$r = http_get($url, headers => { %$auth, Origin => 'https://evil.example' });
is $r->{status}, 200, 'GET from another origin is still answered';
ok !defined hdr($r, 'Access-Control-Allow-Origin'),
    'but without CORS headers: the browser keeps it from the page';

$r = http_get($url, headers => $auth);
ok !defined hdr($r, 'Access-Control-Allow-Origin'),
    'no Origin (not a browser): no CORS headers';

$r = http_get($ng->api_url . '/health',
              headers => { Origin => 'http://127.0.0.1:' . $ng->port });
is hdr($r, 'Access-Control-Allow-Origin'), 'http://127.0.0.1:' . $ng->port,
    'the same host is allowed besides the listed origins';
$ng->stop;

# ---- defaults and *
my $def = start_nginx();
$r = http_get($def->api_url . '/health', headers => { Origin => $app });
ok !defined hdr($r, 'Access-Control-Allow-Origin'),
    'by default another origin gets no CORS';
$r = http_get($def->api_url . '/health',
              headers => { Origin => 'http://127.0.0.1:' . $def->port });
is hdr($r, 'Access-Control-Allow-Origin'), 'http://127.0.0.1:' . $def->port,
    'by default the same host does';
$def->stop;

my $any = start_nginx(api_loc => 'chat_allowed_origins *;');
$r = http_request(OPTIONS => $any->api_url . '/rooms', headers => {
    Origin => 'https://anywhere.example',
    'Access-Control-Request-Method' => 'GET' });
is $r->{status}, 204, 'with *, any origin passes the preflight';
is hdr($r, 'Access-Control-Allow-Origin'), 'https://anywhere.example',
    'and is allowed by name';
$any->stop;

done_testing;
