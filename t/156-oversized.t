# Oversized requests with a valid token get nginx's answer in the
# protocol's JSON (431 for headers past large_client_header_buffers, 413
# for bodies past the API's limit) and nothing else happens: no session,
# no message stored, no descriptor kept, and another user chats
# meanwhile.  (t/29 checks each error body; t/33 the body limits.)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Mojo::JSON qw(encode_json);
use ChatTest;

$SIG{PIPE} = 'IGNORE';

my $ng = start_nginx(workers => 1);
my ($worker) = $ng->worker_pids;
my $port = $ng->port;
my $conninfo = backends()->{conninfo};
my $room = rand_room('big');
my $tok = token(sub => 'big');
my $host = "Host: 127.0.0.1:$port\r\n";

my $bob = login($ng, 'bob');
is $bob->request({ type => 'join', room => $room })->{type}, 'ok',
    'bob joins';
my @acks;
sub bob_sends {
    push @acks, $bob->request({ type => 'send', room => $room,
                                body => 'tick ' . (@acks + 1) });
}

sub fds { pid_fds($worker) }

sub raw {
    my ($req) = @_;
    my $r = raw_connect($port, '/', undef, request => $req, timeout => 10);
    $r->close;
    return $r;
}

sub is_error {
    my ($r, $status, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is $r->status, $status, "$name: $status";
    is $r->json && $r->json->{error}{code}, 'too_large',
        "$name: too_large";
}

my $upgrade = "GET /chat/ws HTTP/1.1\r\n$host"
    . "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    . "Sec-WebSocket-Version: 13\r\n"
    . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    . "Authorization: Bearer $tok\r\n";
my $post = "POST /chat/api/rooms/$room/messages HTTP/1.1\r\n$host"
    . "Authorization: Bearer $tok\r\nContent-Type: application/json\r\n";
my $fd0 = fds();

# one header line past the buffers, and many small lines past them
is_error(raw($upgrade . 'X-Big: ' . ('a' x 40_000) . "\r\n\r\n"), 431,
         'an upgrade with a 40 KB header');
is_error(raw($upgrade . join('', map { sprintf "X-H%04d: %s\r\n", $_,
                                       'h' x 30 } 1 .. 1200) . "\r\n"),
         431, 'an upgrade with 1200 header lines (48 KB)');
bob_sends();
is_error(raw($post . 'X-Big: ' . ('a' x 40_000) . "\r\n"
             . "Content-Length: 13\r\n\r\n" . '{"body":"no"}'),
         431, 'a send with a 40 KB header');

# a valid send, its body past the API's limit, whole or chunked
my $body = encode_json({ body => 'y' x 70_000 });
is_error(raw($post . 'Content-Length: ' . length($body) . "\r\n\r\n$body"),
         413, 'a send of 70 KB');
my $chunked = join '', map { sprintf("%x\r\n", length $_) . "$_\r\n" }
    unpack('(a4000)*', $body);
is_error(raw($post . "Transfer-Encoding: chunked\r\n\r\n$chunked"
             . "0\r\n\r\n"), 413, 'a chunked send of 70 KB');
bob_sends();

# 200 more of them: the worker keeps nothing
for (1 .. 100) {
    raw($upgrade . 'X-Big: ' . ('a' x 40_000) . "\r\n\r\n");
    raw($post . 'Content-Length: ' . length($body) . "\r\n\r\n$body");
}
bob_sends();
ok wait_until(sub { fds() <= $fd0 + 1 }, 10, 0.05),
    'the worker\'s descriptors are back';

unlike $ng->error_log, qr/user "big"/, 'no session of the user began';
is psql($conninfo, "select count(*) from messages where room_id = '$room'"
        . " and sender = 'big'"), 0, 'nothing of theirs stored';
is scalar(grep { $_ && $_->{type} eq 'ok' } @acks), 3,
    'bob: every send acknowledged';
is_deeply [map { $_ && $_->{seq} } @acks], [1, 2, 3], 'bob: in order';
is_deeply [$ng->crashes], [], 'no worker crashed';

$ng->stop;
done_testing;
