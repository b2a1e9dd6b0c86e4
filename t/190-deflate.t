# permessage-deflate (RFC 7692): negotiated per connection at the upgrade
# (chat_deflate), no context takeover either way; each event compressed
# once per worker and the same frame (RSV1) queued to every connection
# that negotiated it, the plain frame to the others; compressed requests
# inflated under the message limit; bombs, corrupt streams and RSV1
# misuse closed with 1009, 1007 and 1002.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Compress::Raw::Zlib qw(Z_OK);
use ChatTest;
use ChatTest::Deflate qw(pmd_open pmd_read pmd_send pmd_deflate
                         pmd_inflate);
use ChatTest::Prom qw(prom_scrape prom_num);

my $ANSWER = 'permessage-deflate; server_no_context_takeover; '
           . 'client_no_context_takeover';

my $ng = start_nginx(
    workers => 1,
    server => 'location = /metrics { chat_metrics; } '
            . 'location /chat/plain { chat_ws; chat_deflate off; } '
            . 'location /chat/large { chat_ws; '
            . 'chat_deflate_min_length 4096; }',
);
my $port = $ng->port;

sub metric { prom_num(prom_scrape($ng->url . '/metrics'), @_) }

# the 101's answer to an offer: the Sec-WebSocket-Extensions header
sub answer {
    my ($path, @h) = @_;
    my $r = raw_connect($port, $path, [map { ['Sec-WebSocket-Extensions'
                                               => $_] } @h]);
    my $st = $r->status;
    my $a = $r->header('Sec-WebSocket-Extensions');
    $r->close;
    return ($st, $a);
}

# ---- negotiation
{
    my @matrix = (
        [ [], undef, 'nothing offered' ],
        [ ['permessage-deflate'], $ANSWER, 'offered bare' ],
        [ ['permessage-deflate; client_max_window_bits'], $ANSWER,
          "Chromium's offer" ],
        [ ['permessage-deflate; client_max_window_bits=10; '
           . 'server_no_context_takeover'], $ANSWER,
          'client window and server_no_context_takeover' ],
        [ ['permessage-deflate; client_no_context_takeover'], $ANSWER,
          'client_no_context_takeover' ],
        [ ['permessage-deflate; server_max_window_bits=10'],
          "$ANSWER; server_max_window_bits=10", 'server window echoed' ],
        [ ['permessage-deflate; server_max_window_bits="9"'],
          "$ANSWER; server_max_window_bits=9", 'quoted value' ],
        [ ['x-webkit-deflate-frame'], undef, 'another extension only' ],
        [ ['x-webkit-deflate-frame, permessage-deflate'], $ANSWER,
          'another extension first' ],
        [ ['permessage-deflate; foo, permessage-deflate; '
           . 'client_max_window_bits'], $ANSWER,
          'first offer declined, second taken' ],
        [ ['x-foo', 'permessage-deflate'], $ANSWER, 'in a second header' ],
        [ ['permessage-deflate; server_max_window_bits=16'], undef,
          'window of 16 bits' ],
        [ ['permessage-deflate; server_max_window_bits=7'], undef,
          'window of 7 bits' ],
        [ ['permessage-deflate; server_max_window_bits'], undef,
          'server window without a value' ],
        [ ['permessage-deflate; foo=1'], undef, 'unknown parameter' ],
        [ ['permessage-deflate; server_no_context_takeover=1'], undef,
          'a value where none goes' ],
        [ ['permessage-deflate; client_no_context_takeover; '
           . 'client_no_context_takeover'], undef, 'a parameter twice' ],
        [ ['permessage-deflate;'], undef, 'broken grammar' ],
        [ ['permessage-deflate; x="open, permessage-deflate'], undef,
          'unterminated quote' ],
    );
    for my $m (@matrix) {
        my ($st, $a) = answer('/chat/ws', @{ $m->[0] });
        is $st, 101, "$m->[2]: upgraded";
        is $a, $m->[1], "$m->[2]: " . ($m->[1] ? 'accepted' : 'declined');
    }
    my ($st, $a) = answer('/chat/plain', 'permessage-deflate');
    is $st, 101, 'chat_deflate off: upgraded';
    is $a, undef, 'chat_deflate off: declined';
}

# ---- events: compressed once, the same frame to every connection that
# negotiated, the plain one to the others, and the same JSON for all
{
    my $room = rand_room('deflate');
    my @d = map { pmd_open($ng, "d$_", ext => 'permessage-deflate') } 1 .. 4;
    my @p = map { pmd_open($ng, "p$_") } 1 .. 2;
    my $small = pmd_open($ng, 'w8', ext => 'permessage-deflate; '
                                  . 'server_max_window_bits=8');
    my $large = pmd_open($ng, 'l1', ext => 'permessage-deflate',
                         path => '/chat/large');
    is $d[0]{pmd}, $ANSWER, 'negotiated';
    is $p[0]{pmd}, undef, 'not negotiated';
    like $small->{pmd}, qr/server_max_window_bits=8$/, '8-bit window';
    my @all = (@d, @p, $small, $large);
    my $n = 0;
    for my $c (@all) {
        pmd_send($c, { type => 'join', room => $room, id => 'j' },
                 plain => 1);
        my $ok;
        while (my $m = pmd_read($c)) {
            if (($m->{json}{id} // '') eq 'j') { $ok = $m->{json}; last }
        }
        $n++ if $ok && $ok->{type} eq 'ok';
    }
    is $n, scalar @all, 'all joined (plain requests)';
    my $snd = login($ng, 'sender');
    is $snd->request({ type => 'join', room => $room })->{type}, 'ok',
        'sender joined';

    # what each got until the last of the messages
    my $before = metric('ngx_chat_ws_deflated_total');
    my @bodies = (('x' x 40), ('chat ' x 30), ('y' x 1000), 'é' x 300);
    for my $b (@bodies) {
        my $r = $snd->request({ type => 'send', room => $room, body => $b });
        is $r->{type}, 'ok', 'sent ' . length($b) . ' characters';
    }
    is scalar($snd->wait_messages($room, scalar @bodies, 5)),
        scalar @bodies, 'the sender got its own';
    my %got;
    for my $c (@all) {
        my @m;
        while (my $m = pmd_read($c)) {
            next unless ($m->{json}{type} // '') eq 'message';
            push @m, $m;
            last if @m == @bodies;
        }
        $got{ $c->{user} } = \@m;
    }
    my $after = metric('ngx_chat_ws_deflated_total');

    my @plain = @{ $got{p1} };
    is_deeply [map { $_->{json}{body} } @plain], \@bodies,
        'a plain connection got every message';
    is scalar(grep { $_->{compressed} } @plain), 0, 'all plain (no RSV1)';
    for my $u (qw(p2 d1 d2 d3 d4 w8 l1)) {
        is_deeply [map { $_->{text} } @{ $got{$u} }],
            [map { $_->{text} } @plain],
            "$u: the same JSON text, byte for byte";
    }
    for my $u (qw(d1 d2 d3 d4)) {
        is_deeply [map { $_->{compressed} } @{ $got{$u} }], [1, 1, 1, 1],
            "$u: every message compressed";
    }
    is_deeply [map { $_->{raw} } @{ $got{$_} }],
        [map { $_->{raw} } @{ $got{d1} }], "$_: the same compressed bytes"
        for qw(d2 d3 d4);
    ok $got{d1}[2]{wire} < $plain[2]{wire} / 4,
        "compressed: $got{d1}[2]{wire} bytes on the wire against "
        . "$plain[2]{wire}";

    # a client window of 2^8 bytes: what is longer goes plain
    is_deeply [map { $_->{compressed} } @{ $got{w8} }],
        [map { length($_->{text}) <= 256 ? 1 : 0 } @plain],
        'window of 8 bits: compressed only up to 256 bytes';
    is_deeply [map { $_->{compressed} } @{ $got{l1} }], [0, 0, 0, 0],
        'chat_deflate_min_length 4096: all plain';

    # compressed once per event in this worker: not once per connection
    my $compressed = grep { $_->{compressed} } @{ $got{d1} };
    is $after - $before, $compressed,
        "$compressed events, compressed $compressed times for 5 "
        . 'connections that negotiated';

    # ---- requests: compressed, whole or in fragments
    my $in0 = metric('ngx_chat_ws_inflated_total');
    pmd_send($d[0], { type => 'send', room => $room, id => 's1',
                      body => 'compressed ' x 20 });
    pmd_send($d[1], { type => 'send', room => $room, id => 's2',
                      body => 'fragments ' x 20 }, split => 3);
    pmd_send($d[2], { type => 'ping', id => 'p' });
    for my $c (@d[0 .. 2]) {
        my $r;
        while (my $m = pmd_read($c)) {
            next unless defined $m->{json}{id};
            $r = $m->{json};
            last;
        }
        ok $r && $r->{type} =~ /^(ok|pong)$/,
            "$c->{user}: a compressed request answered ($r->{type})";
    }
    my @m = $snd->wait_messages($room, 2, 5);
    is_deeply [sort map { $_->{body} } @m],
        [sort('compressed ' x 20, 'fragments ' x 20)],
        'their messages delivered as sent';
    is metric('ngx_chat_ws_inflated_total') - $in0, 3, 'three inflated';

    # a reply past 32 KiB, a window's length: compressed all the same
    my @ok = $snd->pipeline([map { { type => 'send', room => $room,
                                     body => "page $_ " . ('z' x 1000) } }
                             1 .. 40]);
    is scalar(grep { $_ && $_->{type} eq 'ok' } @ok), 40, '40 more sent';
    pmd_send($d[0], { type => 'history', id => 'h', room => $room,
                      limit => 50 }, plain => 1);
    my $h;
    while (my $m = pmd_read($d[0])) {
        if (($m->{json}{id} // '') eq 'h') { $h = $m; last }
    }
    ok $h && $h->{compressed}, 'a history page of '
        . length($h->{text} // '') . ' bytes came compressed, in '
        . ($h->{wire} // 0) . ' bytes';
    ok length($h->{text} // '') > 32768, 'longer than 32 KiB';
    is scalar(@{ $h->{json}{messages} // [] }), 46,
        'and holds every message';

    $_->close for @all;
    $snd->close;
}

# ---- two workers: each compresses an event once, for its own connections
{
    my $two = start_nginx(workers => 2, listen => 'reuseport',
                          server => 'location = /metrics { chat_metrics; }');
    my $room = rand_room('deflate2');
    # eight connections, more until both workers hold some; %on keeps a
    # connection of each worker
    my @d = spread_clients($two, 8, sub {
        pmd_open($two, "w2d$_[0]", ext => 'permessage-deflate') });
    my @pid = worker_of($two, @d);
    my %on;
    $on{ $pid[$_] // '?' } //= $d[$_] for 0 .. $#d;
    for my $c (@d) {
        pmd_send($c, { type => 'join', room => $room, id => 'j' });
        while (my $m = pmd_read($c)) { last if ($m->{json}{id} // '') eq 'j' }
    }
    SKIP: {
        skip 'ss shows no process owners', 2 if exists $on{'?'};
        is scalar(keys %on), 2, 'the connections are on both workers';
        my $snd = login($two, 'w2sender');
        $snd->request({ type => 'join', room => $room });
        my $m0 = prom_scrape($two->url . '/metrics');
        $snd->request({ type => 'send', room => $room,
                        body => "two workers $_ " x 20 }) for 1 .. 3;
        my (%z, $all);
        for my $c (@d) {
            my $n = 0;
            while (my $m = pmd_read($c)) {
                $z{$c} += $m->{compressed};
                last if ($m->{json}{type} // '') eq 'message' && ++$n == 3;
            }
            $all += $z{$c};
        }
        my $delta = prom_num(prom_scrape($two->url . '/metrics'),
                             'ngx_chat_ws_deflated_total')
                  - prom_num($m0, 'ngx_chat_ws_deflated_total');
        my $per_worker = 0;
        $per_worker += $z{$_} for values %on;
        is $delta, $per_worker, "compressed $delta times: once per event "
            . "and worker, for $all compressed frames delivered";
        $snd->close;
    }
    $_->close for @d;
    $two->stop;
}

# ---- bad input: each closes with its code, and the worker serves on
sub closes {
    my ($code, $name, $send, %o) = @_;
    my $r = pmd_open($ng, 'bad', ext => $o{ext} // 'permessage-deflate');
    $send->($r);
    my ($got) = $r->read_close(5);
    is $got, $code, "$name: closed with $code";
    ok $r->is_eof(5), "$name: TCP closed";
}

# 8 MiB of spaces: some 8 KiB compressed, a frame under chat_frame_max
my $bomb = '{"type":"ping","id":1' . (' ' x (8 << 20)) . '}';
ok length(pmd_deflate($bomb)) < 16384, 'the bomb fits in one frame';
closes(1009, 'a deflate bomb (8 MiB of spaces)', sub {
    pmd_send($_[0], $bomb);
});
closes(1009, 'inflated past chat_frame_max by one byte', sub {
    my $j = '{"type":"ping","id":1}';
    pmd_send($_[0], $j . (' ' x (16384 + 1 - length $j)));
});
{
    my $r = pmd_open($ng, 'edge', ext => 'permessage-deflate');
    my $j = '{"type":"ping","id":"edge"}';
    pmd_send($r, $j . (' ' x (16384 - length $j)));
    my $m = pmd_read($r);
    is $m && $m->{json}{id}, 'edge', 'inflated to chat_frame_max exactly: '
        . 'answered';
    $r->close;
}
closes(1007, 'corrupt stream', sub {
    $_[0]->send_frame(1, "\xff\xff\xff\xff", rsv => 4);
});
closes(1007, 'a stream cut short', sub {
    my $z = pmd_deflate('{"type":"ping","id":1,"pad":"' . ('q' x 500)
                        . '"}');
    $_[0]->send_frame(1, substr($z, 0, int(length($z) / 2)), rsv => 4);
});
closes(1007, 'invalid UTF-8 once inflated', sub {
    pmd_send($_[0], "{\"type\":\"ping\",\"id\":\"\xc0\xaf\"}");
});
closes(1002, 'RSV1 without negotiation', sub {
    $_[0]->send_frame(1, pmd_deflate('{"type":"ping","id":1}'), rsv => 4);
}, ext => 'x-foo');
closes(1002, 'RSV1 on a continuation', sub {
    $_[0]->send_frame(1, '{"type":', fin => 0);
    $_[0]->send_frame(0, '"ping"}', rsv => 4);
});
closes(1002, 'RSV1 on a ping', sub {
    $_[0]->send_frame(9, 'x', rsv => 4);
});
closes(1002, 'RSV2', sub {
    $_[0]->send_frame(1, '{"type":"ping","id":1}', rsv => 2);
});

# Context takeover, which the server refused (client_no_context_takeover):
# a message that refers back into the one before cannot be read alone.
# Mojo's client does this; the server closes with 1007 (docs/deflate.md).
{
    my $r = pmd_open($ng, 'keeper', ext => 'permessage-deflate');
    my ($d) = Compress::Raw::Zlib::Deflate->new(-WindowBits => -15,
                                                -AppendOutput => 1);
    my $j = '{"type":"ping","id":"same id, the same words each time"}';
    pmd_send($r, $j, takeover => $d);
    my $m = pmd_read($r);
    is $m && $m->{json}{type}, 'pong', 'context kept: first message read';
    pmd_send($r, $j, takeover => $d);
    my ($got) = $r->read_close(5);
    is $got, 1007, 'context kept: the second, referring back, gets 1007';
}

# a clean client after all that
{
    my $r = pmd_open($ng, 'after', ext => 'permessage-deflate');
    pmd_send($r, { type => 'ping', id => 'z' });
    my $m = pmd_read($r);
    is $m && $m->{json}{id}, 'z', 'the worker serves on';
    $r->close;
}

# ---- Mojo's client, offered deflate: reads the compressed events
{
    my $room = rand_room('mojo');
    my $c = login($ng, 'mojo',
                  headers => { 'Sec-WebSocket-Extensions'
                               => 'permessage-deflate' });
    is $c->res->headers->sec_websocket_extensions, $ANSWER,
        'Mojo negotiated';
    # its one request: the first message of a kept context is read
    is $c->request({ type => 'join', room => $room })->{type}, 'ok',
        'Mojo joined';
    my $s = login($ng, 'mojo-sender');
    $s->request({ type => 'send', room => $room, body => "m$_ " x 50 })
        for 1 .. 3;
    my @m = $c->wait_messages($room, 3, 5);
    is_deeply [map { $_->{body} } @m], [map { "m$_ " x 50 } 1 .. 3],
        'Mojo read three compressed events';

    $c->close;
    $s->close;

    # It compresses what it sends with the context of what it sent before,
    # ignoring client_no_context_takeover: its first request is read (as
    # the join above was), the same one again refers back to it and gets
    # 1007.
    my $k = login($ng, 'mojo-keeper',
                  headers => { 'Sec-WebSocket-Extensions'
                               => 'permessage-deflate' });
    my $ping = { type => 'ping', id => 'mojo ping, the same words again' };
    my $r = $k->request($ping);
    is $r && $r->{type}, 'pong', 'Mojo: its first request read';
    $k->send_json($ping);
    is $k->close_code(5), 1007, 'Mojo: the same again, compressed with '
        . 'the context of the first, closed with 1007';
}

done_testing;
