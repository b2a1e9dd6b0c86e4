# Metrics (chat_metrics), continued: PostgreSQL lost and back, a client
# that vanishes (1006, in the gauge and the access log), the directives'
# errors, and what the metrics location answers to other methods.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;
use ChatTest::Prom qw(prom_num prom_scrape prom_scrape_until);
use Mojo::JSON qw(decode_json);

# the directives, checked by nginx -t
my $dir = ChatTest::tmpdir();
my $secret = ChatTest::secret_file();
my $b = backends();
my $good = "chat_redis $b->{redis}; chat_postgres \"$b->{conninfo}\"; "
         . "chat_jwt_key HS256 $secret;";

sub nginx_t { ChatTest::Nginx->check_conf($dir, @_) }

for my $t (
    [ 1, '', 'location = /metrics { chat_metrics; }',
      'chat_metrics alone, with no chat_ws or chat_api' ],
    [ 1, $good, 'location /ws { chat_ws; chat_ws_log_at_close on; } '
      . 'location = /m { chat_metrics; }', 'chat_ws_log_at_close on' ],
    [ 0, $good, 'location = /m { chat_ws; chat_metrics; }',
      'chat_metrics where chat_ws is', qr/is duplicate/ ],
    [ 0, '', 'location = /m { chat_metrics x; }',
      'chat_metrics takes no argument', qr/invalid number of arguments/ ],
    [ 0, '', 'chat_metrics;', 'chat_metrics outside a location',
      qr/not allowed here/ ],
    [ 0, $good, 'chat_ws_log_at_close maybe;',
      'chat_ws_log_at_close takes on or off', qr/invalid value "maybe"/ ],
) {
    my ($want, $http, $server, $name, $re) = @$t;
    my ($ok, $out) = nginx_t($http, $server);
    if ($want) {
        ok $ok, $name or diag $out;
    } else {
        ok !$ok && $out =~ $re, $name or diag $out;
    }
}

my $pg = start_pg();
my $ng = start_nginx(
    workers => 2,
    pg => $pg->conninfo,
    http => 'log_format closes escape=json '
          . q('{"user":"$chat_user","close":"$chat_close_code"}';),
    loc => 'chat_ws_log_at_close on; access_log closes.log closes;',
    server => 'location = /metrics { chat_metrics; } '
            . 'location /chat/early { chat_ws; access_log early.log closes; }',
);

my $url = $ng->url . '/metrics';
sub scrape { prom_scrape($url) }
sub scrape_until { prom_scrape_until($url, @_) }
sub v { prom_num(@_) }

my $r = http_request('POST', $ng->url . '/metrics', body => 'x');
is $r->{status}, 405, 'POST to the metrics location: 405';
$r = http_request('HEAD', $ng->url . '/metrics');
is $r->{status}, 200, 'HEAD: 200';

# a client that drops its TCP connection: 1006
my $m0 = scrape_until(sub { v($_[0], 'ngx_chat_postgres_connections') == 8 });
my $c = login($ng, 'dropper');
$c->drop;
my $m = scrape_until(sub { v($_[0], 'ngx_chat_ws_connections') == 0
                           && v($_[0], 'ngx_chat_ws_closes_total',
                                code => 1006, by => 'none')
                              > v($m0, 'ngx_chat_ws_closes_total',
                                  code => 1006, by => 'none') });
is v($m, 'ngx_chat_ws_closes_total', code => 1006, by => 'none')
    - v($m0, 'ngx_chat_ws_closes_total', code => 1006, by => 'none'), 1,
    'a vanished client: closes{code=1006,by=none} +1';
is v($m, 'ngx_chat_ws_sessions_authenticated'), 0,
    'and it is no longer counted as authenticated';
my $line;
wait_until(sub {
    open my $f, '<', $ng->dir . '/closes.log' or return;
    ($line) = grep { $_->{user} eq 'dropper' }
              map { decode_json($_) } <$f>;
}, 10, 0.05);
is_deeply $line, { user => 'dropper', close => '1006' },
    'its log line: $chat_close_code 1006';

# chat_ws_log_at_close off (the default): the line comes at the upgrade,
# while the connection is open
my $early = login($ng->url =~ s{^http}{ws}r . '/chat/early', 'early');
my $eline;
wait_until(sub {
    open my $f, '<', $ng->dir . '/early.log' or return;
    ($eline) = grep { $_->{user} eq 'early' } map { decode_json($_) } <$f>;
}, 10, 0.05);
ok $early->is_open, 'the connection is still open';
is_deeply $eline, { user => 'early', close => '' },
    'logged at the upgrade: its user, no close code yet';
close_all($early);

# PostgreSQL lost: no connection up; back: every pool up, reconnects
$m0 = $m;
$pg->stop;
$m = scrape_until(sub { v($_[0], 'ngx_chat_postgres_connections') == 0 });
is v($m, 'ngx_chat_postgres_connections'), 0, 'PostgreSQL down: 0 up';
$pg->start;
$m = scrape_until(sub { v($_[0], 'ngx_chat_postgres_connections') == 8 }, 20);
is v($m, 'ngx_chat_postgres_connections'), 8, 'PostgreSQL back: 8 up';
cmp_ok v($m, 'ngx_chat_postgres_reconnects_total')
    - v($m0, 'ngx_chat_postgres_reconnects_total'), '>=', 2,
    'postgres_reconnects_total: both workers reconnected';

is_deeply \@ChatTest::Prom::PROBLEMS, [],
    'every scrape in the exposition format';

$ng->stop;
done_testing;
