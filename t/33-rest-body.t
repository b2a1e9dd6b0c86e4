# Nothing blocks a worker: REST bodies larger than client_body_buffer_size
# stay in memory (never a temporary file, which would be read back with a
# blocking read), chunked ones too, and the API's 64 KiB limit holds.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $ng = start_nginx(api_loc => 'client_body_buffer_size 1k;');
my $port = $ng->port;
my $room = rand_room('body');
my $tok = token(sub => 'alice');

# a send whose JSON is padded with whitespace to $size bytes
sub padded {
    my ($size, $text) = @_;
    my $head = qq({"body":"$text","client_msg_id":"$text");
    return $head . (' ' x ($size - length($head) - 1)) . '}';
}

sub post {
    my ($body, %o) = @_;
    my $path = "/chat/api/rooms/$room/messages";
    my $req = "POST $path HTTP/1.1\r\nHost: 127.0.0.1:$port\r\n"
            . "Authorization: Bearer $tok\r\n"
            . "Content-Type: application/json\r\n";
    if ($o{chunked}) {
        my $c = '';
        for (my $i = 0; $i < length $body; $i += $o{chunked}) {
            my $piece = substr $body, $i, $o{chunked};
            $c .= sprintf("%x\r\n", length $piece) . "$piece\r\n";
        }
        $req .= "Transfer-Encoding: chunked\r\n\r\n${c}0\r\n\r\n";
    } else {
        $req .= 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    }
    my $c = raw_connect($port, $path, undef, request => '',
                        no_response => 1);
    # the request in pieces, paced, so that the body arrives over many
    # reads
    $c->send_raw($req, split => $o{split} // 16384, pause => 0.002);
    $c->read_response(10);
    return $c;
}

my $r = post(padded(60 * 1024, 'cl'));
is $r->status, 201, '60 KiB body, Content-Length, 1k buffer: 201'
    or diag $r->body;
is $r->json && $r->json->{seq}, 1, 'the send is committed';

$r = post(padded(60 * 1024, 'ch'), chunked => 4000);
is $r->status, 201, '60 KiB chunked body: 201' or diag $r->body;
is $r->json && $r->json->{seq}, 2, 'committed too';

$r = post(padded(64 * 1024, 'max'), chunked => 8192);
is $r->status, 201, 'exactly 64 KiB chunked: 201' or diag $r->body;

$r = post(padded(70 * 1024, 'big'), chunked => 4000);
is $r->status, 413, '70 KiB chunked body: 413';
is $r->json && $r->json->{error}{code}, 'too_large', 'too_large'
    or diag $r->body;

$r = post(padded(64 * 1024 + 1, 'cl2'));
is $r->status, 413, '64 KiB + 1 with Content-Length: 413';

$r = post(padded(3000, 'slow'), split => 100);
is $r->status, 201, 'a body in 100-byte pieces: 201' or diag $r->body;

my $h = api($ng, GET => "/rooms/$room/messages");
is_deeply [map { $_->{body} } @{ $h->{json}{messages} // [] }],
    [qw(cl ch max slow)], 'exactly the accepted sends are stored';

my $log = $ng->error_log;
unlike $log, qr/buffered to a temporary file/,
    'no body was buffered to a temporary file';
opendir my $d, $ng->dir . '/tmp_body' or die $!;
my @files = grep { !/^\./ } readdir $d;
is scalar @files, 0, 'client_body_temp_path stays empty';

$ng->stop;
done_testing;
