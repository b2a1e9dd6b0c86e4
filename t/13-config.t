# Configuration errors are caught by "nginx -t" with a clear message, and
# tokens never reach the error log.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $dir = ChatTest::tmpdir();
my $secret = ChatTest::secret_file();
my $b = ChatTest::backends();

open my $fh, '>', "$dir/short.secret" or die $!;
print $fh "too short\n";
close $fh;

sub nginx_t {
    my ($http, $loc) = @_;
    return ChatTest::Nginx->check_conf($dir, $http,
                                       "location /chat/ws { chat_ws; $loc }");
}

my $good = "chat_redis $b->{redis}; chat_postgres \"$b->{conninfo}\"; "
         . "chat_jwt_key HS256 $secret;";

my ($ok, $out) = nginx_t($good, '');
ok $ok, 'a complete configuration passes nginx -t' or diag $out;

my @bad = (
    [ "$good chat_presence_ttl 500ms;", '',
      qr/chat_presence_ttl.*at least 1s/, 'chat_presence_ttl below 1s' ],
    [ $good, 'chat_presence_ttl 10s;',
      qr/"chat_presence_ttl" directive is not allowed here/,
      'chat_presence_ttl in a location' ],
    [ "chat_redis $b->{redis}; chat_postgres \"$b->{conninfo}\";", '',
      qr/chat_jwt_key/, 'no key' ],
    [ "chat_postgres \"$b->{conninfo}\"; chat_jwt_key HS256 $secret;", '',
      qr/chat_redis/, 'no Redis' ],
    [ "chat_redis $b->{redis}; chat_jwt_key HS256 $secret;", '',
      qr/chat_postgres/, 'no PostgreSQL' ],
    [ "chat_redis localhost:6379; chat_postgres \"x\"; "
      . "chat_jwt_key HS256 $secret;", '',
      qr/numeric address/, 'Redis by name' ],
    [ "chat_redis 127.0.0.1:99999; chat_postgres \"x\"; "
      . "chat_jwt_key HS256 $secret;", '',
      qr/invalid port/, 'bad Redis port' ],
    [ "$good chat_jwt_key HS384 $secret;", '',
      qr/unknown algorithm "HS384"/, 'unknown algorithm' ],
    [ "$good chat_jwt_key HS256 $dir/short.secret;", '',
      qr/short\.secret.*32 bytes|32 bytes.*short\.secret/i,
      'HS256 secret too short' ],
    [ "$good chat_jwt_key RS256 $secret;", '',
      qr/chat_jwt_key/, 'RS256 key that is no PEM' ],
    [ "$good chat_jwt_key HS256 $dir/missing;", '',
      qr/cannot open .*missing/, 'missing key file' ],
    [ $good, 'chat_message_max 32k;',
      qr/chat_message_max/, 'message larger than a frame' ],
    [ $good, 'chat_frame_max 64;', qr/chat_frame_max/, 'tiny frames' ],
    [ $good, 'chat_reply_max 4k;', qr/chat_reply_max/,
      'reply bound below a page of one message' ],
    [ $good, 'chat_reply_max 2m;', qr/chat_reply_max/,
      'reply bound above the send queue' ],
    [ $good, 'chat_send_queue_max 16k;', qr/chat_send_queue_max.*reply/,
      'send queue below a reply of one message' ],
    [ $good, 'chat_ws;', qr/duplicate/, 'chat_ws twice' ],
    [ $good, 'chat_join_replay_max 0;', qr/chat_join_replay_max/,
      'replay cap of 0' ],
    [ $good, 'chat_store memory;', qr/invalid value "memory"/,
      'unknown store' ],
    [ "$good chat_redis_prefix " . ('p' x 129) . ';', '',
      qr/chat_redis_prefix/, 'Redis prefix too long' ],
    [ $good, 'chat_request_rate 20r/h;', qr/chat_request_rate.*Nr\/s/,
      'a rate per hour' ],
    [ $good, 'chat_request_rate 0r/s;', qr/chat_request_rate/,
      'a rate of 0' ],
    [ $good, 'chat_request_rate 20r/s 100;', qr/burst=N/,
      'a burst without burst=' ],
    [ $good, 'chat_request_rate off burst=5;', qr/takes no burst/,
      'off with a burst' ],
    [ $good, 'chat_request_rate 1r/s; chat_request_rate 2r/s;',
      qr/duplicate/, 'chat_request_rate twice' ],
    [ "$good chat_room_create_rate 10r/m burst=-1;", '',
      qr/chat_room_create_rate.*burst=N/, 'a negative burst' ],
    [ $good, 'chat_rooms_per_connection 0;', qr/chat_rooms_per_connection/,
      'a rooms cap of 0' ],
    [ $good, 'chat_user_send_rate 10r/0s;', qr/chat_user_send_rate.*Nr\/Ps/,
      'a user send rate over no time' ],
);

# PostgreSQL by name: libpq would resolve it with a blocking lookup in
# every worker
my $rk = "chat_redis $b->{redis}; chat_jwt_key HS256 $secret;";
for my $ci ('host=db.example dbname=chat', 'host=localhost port=5432',
            'postgresql://db.example/chat', 'host=10.0.0.1,db.example',
            'host=db.example,db2.example hostaddr=10.0.0.1,')
{
    push @bad, [ "$rk chat_postgres \"$ci\";", '',
                 qr/"chat_postgres" needs a numeric host address/,
                 "PostgreSQL by name ($ci)" ];
}
push @bad, [ "$rk chat_postgres \"host='db\";", '',
             qr/invalid "chat_postgres"/, 'a conninfo libpq cannot parse' ];

for my $ci ('host=db.example hostaddr=10.0.0.5 dbname=chat',
            'host=/var/run/postgresql dbname=chat', 'host=::1 dbname=chat',
            'host=127.0.0.1,/tmp dbname=chat', 'dbname=chat',
            'postgresql://127.0.0.1:5432/chat',
            'host=a.example,b.example hostaddr=10.0.0.1,10.0.0.2')
{
    my ($ok, $out) = nginx_t("$rk chat_postgres \"$ci\";", '');
    ok $ok, "chat_postgres \"$ci\" passes nginx -t" or diag $out;
}
($ok, $out) = nginx_t("$good chat_room_create_rate 30r/m burst=100;",
                      'chat_request_rate off; chat_rooms_per_connection 500; '
                      . 'chat_user_send_rate 20r/10s burst=5;');
ok $ok, 'the limit directives in their places pass nginx -t' or diag $out;
($ok, $out) = nginx_t("$good chat_presence_ttl 1s;", '');
ok $ok, 'chat_presence_ttl 1s passes nginx -t' or diag $out;

# chat_deflate, chat_deflate_min_length: in http and in a location
($ok, $out) = nginx_t("$good chat_deflate off; chat_deflate_min_length 1k;",
                      'chat_deflate on; chat_deflate_min_length 1;');
ok $ok, 'chat_deflate and chat_deflate_min_length pass nginx -t' or diag $out;
push @bad, [ $good, 'chat_deflate maybe;', qr/chat_deflate/,
             'chat_deflate neither on nor off' ],
           [ $good, 'chat_deflate_min_length 0;',
             qr/"chat_deflate_min_length" must be at least 1/,
             'chat_deflate_min_length 0' ],
           [ $good, 'chat_deflate_min_length lots;',
             qr/chat_deflate_min_length/, 'chat_deflate_min_length no size' ];

# chat_reload_spread: a time in the http block, 0 for all at once
for my $v (qw(0 2s 500ms)) {
    ($ok, $out) = nginx_t("$good chat_reload_spread $v;", '');
    ok $ok, "chat_reload_spread $v passes nginx -t" or diag $out;
}
push @bad, [ "$good chat_reload_spread soon;", '',
             qr/"chat_reload_spread" directive invalid value/,
             'chat_reload_spread not a time' ],
           [ $good, 'chat_reload_spread 5s;',
             qr/"chat_reload_spread" directive is not allowed here/,
             'chat_reload_spread in a location' ];

# chat_search_language: a text search configuration's name
($ok, $out) = nginx_t("$good chat_search_language pg_catalog.english;", '');
ok $ok, 'chat_search_language pg_catalog.english passes nginx -t' or diag $out;
push @bad, [ "$good chat_search_language \"english';drop\";", '',
             qr/"chat_search_language" must name a text search configuration/,
             'chat_search_language with quotes' ];

for my $t (@bad) {
    my ($http, $loc, $re, $name) = @$t;
    my ($ok, $out) = nginx_t($http, $loc);
    ok !$ok, "$name: nginx -t fails";
    like $out, $re, "$name: the message says why" or diag $out;
}

# ---- tokens stay out of the logs, whatever happens to them
{
    my $ng = start_nginx();
    my $bad = token(sub => 'mallory', secret => 'x' x 40);
    my ($sig) = $bad =~ /\.([^.]+)$/;
    my $c = ws_connect($ng->ws_url, token => $bad);
    ok !$c->isa('ChatTest::WS'), 'forged header token refused';

    my $r = raw_connect($ng->port, '/chat/ws', {});
    $r->send_json({ type => 'auth', id => 1, token => $bad });
    my ($code) = $r->read_close(5);
    is $code, 4001, 'forged first-frame token: 4001';

    my $good_tok = token(sub => 'alice');
    my $a = login($ng, 'alice', token => $good_tok);
    my $ref = $a->request({ type => 'refresh', token => $bad });
    is $ref->{code}, 'unauthenticated', 'forged refresh token refused';
    $a->close;

    my $log = $ng->error_log;
    like $log, qr/token rejected/, 'rejections are logged';
    unlike $log, qr/\Q$sig\E/, 'no forged token in the error log';
    my ($gsig) = $good_tok =~ /\.([^.]+)$/;
    unlike $log, qr/\Q$gsig\E/, 'no valid token in the error log';
    $ng->stop;
}

done_testing;
