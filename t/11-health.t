# Protocol section 7: GET /health.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

# one worker: the requests below all see the state the first one awaited
my $ng = start_nginx(workers => 1);

# a worker reports its backends as it finds them: right after start its
# PostgreSQL connections may still be in the making
my $h;
ok wait_until(sub {
    $h = http_get($ng->api_url . '/health');
    $h->{status} == 200;
}, 10), 'health turns ok once the worker is connected';
is $h->{status}, 200, 'GET /chat/api/health: 200';
like $h->{headers}->content_type // '', qr{^application/json}i, 'JSON';
is_deeply $h->{json}, { status => 'ok', redis => 'up', postgres => 'up' },
    '{"status":"ok","redis":"up","postgres":"up"}';

$h = http_get($ng->api_url . '/health',
    headers => { Authorization => 'Bearer ' . token(sub => 'alice') });
is $h->{status}, 200, 'with a token as well';

$ng->stop;
done_testing;
