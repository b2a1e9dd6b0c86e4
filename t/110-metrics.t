# Metrics (chat_metrics): the exposition format read strictly, and the
# counters of the whole host (both workers) moving with real traffic:
# connections, sends, commits, fanout, refusals by reason, closes by code,
# rate limits, REST responses, Redis lost and back.  The chat_* variables
# in a JSON access log, a WebSocket connection's line written at its end.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;
use ChatTest::Prom qw(prom_parse prom_value prom_num prom_scrape
                      prom_scrape_until);
use Mojo::JSON qw(decode_json);

# the parser itself refuses what the format forbids
for my $bad (
    [ "x 1\n", 'a sample before its TYPE' ],
    [ "# TYPE x gauge\nx{a=\"1\" 1\n", 'broken labels' ],
    [ "# TYPE x gauge\nx one\n", 'a value that is no number' ],
    [ "# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\n"
      . "h_sum 1\nh_count 2\n", 'a bucket below the one before' ],
    [ "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
      . "h_sum 1\nh_count 3\n", '+Inf other than _count' ],
    [ "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
      'no +Inf bucket' ],
    [ "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n", 'a split family' ],
    [ "# TYPE c counter\nc 1\n", 'a counter without _total' ],
) {
    my (undef, @err) = prom_parse($bad->[0]);
    ok @err, "the parser refuses $bad->[1]";
}

my $redis = start_redis();
my $log_format = 'log_format chatjson escape=json '
    . q('{"user":"$chat_user","room":"$chat_room",)
    . q("close":"$chat_close_code","messages":"$chat_session_messages",)
    . q("status":"$status","uri":"$uri"}';);
my $ng = start_nginx(
    workers => 2,
    redis => $redis->addr,
    listen => 'reuseport sndbuf=32k',
    http => $log_format,
    loc => 'chat_send_queue_max 64k; chat_ws_log_at_close on; '
         . 'access_log chat.log chatjson;',
    api_loc => 'access_log chat.log chatjson;',
    server => 'location = /metrics { chat_metrics; } '
            . 'location /chat/limited { chat_ws; '
            . 'chat_request_rate 1r/m burst=1; }',
);
my $url = $ng->url . '/metrics';

sub scrape { prom_scrape($url) }
sub scrape_until { prom_scrape_until($url, @_) }
sub v { prom_num(@_) }

my $m = scrape_until(sub {
    v($_[0], 'ngx_chat_postgres_connections') == 8
        && v($_[0], 'ngx_chat_redis_connections', role => 'pubsub') == 2
        && v($_[0], 'ngx_chat_redis_connections', role => 'command') == 2
});
is $m->{_content_type}, 'text/plain; version=0.0.4',
    'Content-Type of the exposition format 0.0.4';
is v($m, 'ngx_chat_workers'), 2, 'two workers';
is v($m, 'ngx_chat_postgres_connections'), 8,
    'PostgreSQL: both workers\' pools of 4 up';
is v($m, 'ngx_chat_redis_connections', role => $_), 2,
    "Redis: the $_ connection of both workers up" for qw(pubsub command);
my %types = (
    ngx_chat_ws_connections => 'gauge',
    ngx_chat_ws_sessions_authenticated => 'gauge',
    ngx_chat_ws_connections_accepted_total => 'counter',
    ngx_chat_ws_frames_received_total => 'counter',
    ngx_chat_ws_frames_sent_total => 'counter',
    ngx_chat_messages_received_total => 'counter',
    ngx_chat_events_sent_total => 'counter',
    ngx_chat_commit_batch_size => 'histogram',
    ngx_chat_commits_held_total => 'counter',
    ngx_chat_commit_duration_seconds => 'histogram',
    ngx_chat_fanout_delay_seconds => 'histogram',
    ngx_chat_redis_reconnects_total => 'counter',
    ngx_chat_postgres_reconnects_total => 'counter',
    ngx_chat_rejected_total => 'counter',
    ngx_chat_ws_closes_total => 'counter',
    ngx_chat_rate_limited_total => 'counter',
    ngx_chat_http_responses_total => 'counter',
);
is_deeply { map { $_ => $m->{_type}{$_} } keys %types }, \%types,
    'every family with its TYPE';
ok !(grep { !length($m->{_help}{$_} // '') } keys %types),
    'every family with a HELP text';

# the Grafana dashboard (docs/) asks only for metrics that exist
my $dash = do {
    open my $f, '<', repo_root() . '/docs/grafana-dashboard.json' or die $!;
    local $/;
    decode_json(<$f>);
};
my %asked;
for my $p (@{ $dash->{panels} }) {
    for my $t (@{ $p->{targets} // [] }) {
        $asked{ $1 =~ s/_(bucket|sum|count)$//r }++
            while $t->{expr} =~ /\b(ngx_chat_\w+)/g;
    }
}
my @unknown = grep { !$m->{_type}{$_} } sort keys %asked;
ok keys(%asked) >= 15 && !@unknown,
    scalar(keys %asked) . ' metrics in the dashboard, all served'
    or diag "unknown: @unknown";

# connections spread over both workers: the gauge counts them all
my $m0 = $m;
my $room = rand_room('metrics');
my @c = spread_clients($ng, 6, sub { login($ng, 'u' . ($_[0] - 1)) });
my %workers = map { $_ => 1 } grep { defined } worker_of($ng, @c);
my $n = @c;
is scalar(keys %workers), 2, "$n connections on both workers";
$m = scrape_until(sub { v($_[0], 'ngx_chat_ws_connections') == $n });
is v($m, 'ngx_chat_ws_connections'), $n, "ws_connections is $n";
is v($m, 'ngx_chat_ws_sessions_authenticated'), $n,
    "ws_sessions_authenticated is $n";
is v($m, 'ngx_chat_ws_connections_accepted_total')
    - v($m0, 'ngx_chat_ws_connections_accepted_total'), $n,
    "accepted_total +$n";
for my $i (0 .. 3) {
    is $c[$i]->request({ type => 'join', room => $room })->{type}, 'ok',
        "client $i joined";
}

# M sends: messages +M, at least M committed and delivered, each reader
# gets them: events +3M at least
my $M = 10;
$m0 = scrape();
my @acks = $c[0]->pipeline([map { { type => 'send', room => $room,
                                    body => "m$_" } } 1 .. $M], 10);
is scalar(grep { $_ && $_->{type} eq 'ok' } @acks), $M, "$M sends acked";
$c[$_]->wait_messages($room, $M, 10) for 1 .. 3;
my $d = sub { v(@_) - v($m0, @_[1 .. $#_]) };
$m = scrape_until(sub {
    $d->($_[0], 'ngx_chat_events_sent_total') >= 4 * $M
        && $d->($_[0], 'ngx_chat_fanout_delay_seconds_count') >= $M
});
is $d->($m, 'ngx_chat_messages_received_total'), $M,
    "messages_received_total +$M";
cmp_ok $d->($m, 'ngx_chat_commit_batch_size_count'), '>=', 1,
    'commits counted';
cmp_ok $d->($m, 'ngx_chat_commit_batch_size_sum'), '>=', $M,
    "at least $M events in those commits";
is $d->($m, 'ngx_chat_commit_duration_seconds_count'), $M,
    "commit latency observed $M times";
cmp_ok $d->($m, 'ngx_chat_fanout_delay_seconds_count'), '>=', $M,
    "fanout delay observed at least $M times";
cmp_ok $d->($m, 'ngx_chat_events_sent_total'), '>=', 4 * $M,
    'events sent to all four joined readers';
cmp_ok $d->($m, 'ngx_chat_ws_frames_received_total'), '>=', $M,
    'frames received';
cmp_ok $d->($m, 'ngx_chat_ws_frames_sent_total'), '>=', 5 * $M,
    'frames sent (acks and events)';

# a refused frame and a refused REST call, by reason
$m0 = scrape();
my $e = $c[5]->request({ type => 'no_such_type' });
is $e && $e->{code}, 'bad_request', 'an unknown request type is refused';
my $r = api($ng, 'GET', '/rooms', no_auth => 1);
is $r->{status}, 401, 'a REST call without a token is refused';
$m = scrape_until(sub {
    $d->($_[0], 'ngx_chat_http_responses_total', api => 'rest',
         class => '4xx') >= 1
});
is $d->($m, 'ngx_chat_rejected_total', via => 'ws', reason => 'bad_request'),
    1, 'rejected{via=ws,reason=bad_request} +1';
is $d->($m, 'ngx_chat_rejected_total', via => 'http',
        reason => 'unauthenticated'), 1,
    'rejected{via=http,reason=unauthenticated} +1';
is $d->($m, 'ngx_chat_http_responses_total', api => 'rest', class => '4xx'),
    1, 'http_responses{api=rest,class=4xx} +1';

# a REST send: 2xx, a message more, and the access log names user and room
$r = api($ng, 'POST', "/rooms/$room/messages", user => 'rester',
         json => { body => 'over rest' });
like $r->{status}, qr/^20[01]$/, 'a REST send';
$m = scrape_until(sub {
    $d->($_[0], 'ngx_chat_http_responses_total', api => 'rest',
         class => '2xx') >= 1
});
is $d->($m, 'ngx_chat_messages_received_total'), 1,
    'the REST send counts as a message';

# the request rate: the third frame on a 1r/m burst=1 connection
$m0 = scrape();
my $lim = login($ng->url =~ s{^http}{ws}r . '/chat/limited', 'limited');
my @p = map { $lim->request({ type => 'ping' }) } 1 .. 3;
is $p[2] && $p[2]{code}, 'rate_limited', 'the third ping is rate limited';
$m = scrape();
is $d->($m, 'ngx_chat_rate_limited_total', limit => 'request'), 1,
    'rate_limited{limit=request} +1';
is $d->($m, 'ngx_chat_rejected_total', via => 'ws', reason => 'rate_limited'),
    1, 'rejected{via=ws,reason=rate_limited} +1';

# a slow reader closed with 1013 (alone in its room: the others read)
$m0 = scrape();
my $slow_room = rand_room('slow');
my $slow = raw_connect($ng->port, '/chat/ws',
    { Authorization => 'Bearer ' . token(sub => 'slowpoke') }, rcvbuf => 4096);
is $slow->status, 101, 'slow reader upgraded';
$slow->read_json(5);
$slow->send_json({ type => 'join', room => $slow_room, id => 1 });
my $j = $slow->read_json(5);
is $j && $j->{type}, 'ok', 'slow reader joined, and reads no more';
my $body = 'z' x 1500;
for my $batch (1 .. 12) {
    $c[0]->pipeline([map { { type => 'send', room => $slow_room,
                             body => "$batch-$_ $body" } } 1 .. 50], 15);
    last if $d->(scrape(), 'ngx_chat_ws_closes_total', code => 1013,
                 by => 'server') > 0;
}
$m = scrape_until(sub {
    $d->($_[0], 'ngx_chat_ws_closes_total', code => 1013, by => 'server') >= 1
});
is $d->($m, 'ngx_chat_ws_closes_total', code => 1013, by => 'server'), 1,
    'closes{code=1013,by=server} +1';
$slow->close;

# a client's close is echoed: by=client; the access log line at its end
$m0 = scrape();
my $lg = login($ng, 'logger');
$lg->request({ type => 'join', room => $room });
$lg->request({ type => 'send', room => $room, body => "log $_" }) for 1 .. 3;
close_all($lg);
$m = scrape_until(sub { $d->($_[0], 'ngx_chat_ws_connections') == 0
                        && $d->($_[0], 'ngx_chat_ws_closes_total',
                                code => 1000, by => 'client') >= 1 });
is $d->($m, 'ngx_chat_ws_closes_total', code => 1000, by => 'client'), 1,
    'closes{code=1000,by=client} +1';

sub log_lines {
    open my $f, '<', $ng->dir . '/chat.log' or return ();
    return map { eval { decode_json($_) } // { bad => $_ } } <$f>;
}
my ($line) = grep { ($_->{user} // '') eq 'logger' } log_lines();
wait_until(sub { ($line) = grep { ($_->{user} // '') eq 'logger' }
                                log_lines(); $line }, 10, 0.05);
is_deeply $line, { user => 'logger', room => '', close => '1000',
                   messages => '3', status => '101', uri => '/chat/ws' },
    'the WebSocket line, written at the end: user, close code, sends'
    or diag explain $line;
my ($rest) = grep { ($_->{user} // '') eq 'rester' } log_lines();
is_deeply $rest && [@$rest{qw(room close messages)}], [$room, '', ''],
    'the REST line: user and room';
ok !(grep { $_->{bad} } log_lines()), 'every log line is JSON';

# Redis lost: both workers' connections down; back: up, reconnects +2
$m0 = scrape();
$redis->stop;
$m = scrape_until(sub {
    v($_[0], 'ngx_chat_redis_connections', role => 'pubsub') == 0
        && v($_[0], 'ngx_chat_redis_connections', role => 'command') == 0
});
is v($m, 'ngx_chat_redis_connections', role => $_), 0,
    "Redis down: no $_ connection up" for qw(pubsub command);
$redis->start;
$m = scrape_until(sub {
    v($_[0], 'ngx_chat_redis_connections', role => 'pubsub') == 2
        && v($_[0], 'ngx_chat_redis_connections', role => 'command') == 2
}, 15);
is v($m, 'ngx_chat_redis_connections', role => $_), 2,
    "Redis back: both $_ connections up" for qw(pubsub command);
is $d->($m, 'ngx_chat_redis_reconnects_total', role => 'pubsub'), 2,
    'reconnects{role=pubsub} +2 (one per worker)';
cmp_ok $d->($m, 'ngx_chat_redis_reconnects_total', role => 'command'), '>=',
    2, 'reconnects{role=command} +2 at least';

# a reload keeps the zone: counters go on, the old workers' gauges leave
# with them
$m0 = scrape();
my $open = v($m0, 'ngx_chat_ws_connections');
$ng->reload;
$m = scrape_until(sub { v($_[0], 'ngx_chat_workers') == 2
                        && v($_[0], 'ngx_chat_ws_connections') == 0 }, 15);
is v($m, 'ngx_chat_workers'), 2, 'after a reload: two workers';
is v($m, 'ngx_chat_ws_connections'), 0,
    'the old workers\' connections are gone from the gauge';
cmp_ok v($m, 'ngx_chat_messages_received_total'), '>=',
    v($m0, 'ngx_chat_messages_received_total'), 'counters kept';
is $d->($m, 'ngx_chat_ws_closes_total', code => 1012, by => 'server'),
    $open, "the $open connections closed with 1012 (service restart)";

is_deeply \@ChatTest::Prom::PROBLEMS, [],
    'every scrape in the exposition format';
$ng->stop;
done_testing;
