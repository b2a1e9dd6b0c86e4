package ChatTest::Raw;

# A WebSocket client on a plain blocking socket, for what a real client
# never sends: any request head, hand-built frames (split, unmasked, lying
# lengths), and reading the server's exact frames and close.

use strict;
use warnings;

use Digest::SHA qw(sha1);
use Errno qw(EAGAIN EINTR ECONNRESET);
use Exporter qw(import);
use IO::Select;
use IO::Socket::INET;
use MIME::Base64 qw(encode_base64);
use Mojo::JSON qw(encode_json decode_json);
use Socket qw(SOL_SOCKET SO_RCVBUF IPPROTO_TCP TCP_NODELAY
              pack_sockaddr_in inet_aton);
use Time::HiRes qw(time sleep);

our @EXPORT_OK = qw(raw_connect $WS_GUID);

our $WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

# raw_connect($port, $path, {headers}, %opts) -> ChatTest::Raw
#   headers: a hash (undef value: leave that default header out) or an
#   array of [name, value] pairs sent as given after the request line.
#   opts: method => 'GET', no_defaults => 1, rcvbuf => bytes,
#         timeout => 5, request => 'whole raw request text',
#         no_response => 1 (read nothing yet: ->read_response later)
sub raw_connect {
    my ($port, $path, $headers, %o) = @_;
    return __PACKAGE__->connect($port, $path, $headers, %o);
}

sub connect {
    my ($class, $port, $path, $headers, %o) = @_;
    my $s = IO::Socket::INET->new(Proto => 'tcp')
        or die "raw_connect: socket: $!";
    if ($o{rcvbuf}) {
        setsockopt($s, SOL_SOCKET, SO_RCVBUF, pack('i', $o{rcvbuf}))
            or die "SO_RCVBUF: $!";
    }
    setsockopt($s, IPPROTO_TCP, TCP_NODELAY, pack('i', 1));
    $s->connect(pack_sockaddr_in($port, inet_aton('127.0.0.1')))
        or die "raw_connect 127.0.0.1:$port: $!";
    $s->blocking(1);
    binmode $s;
    my $r = bless { sock => $s, buf => '', eof => 0, port => $port }, $class;

    my $key = $o{key} // encode_base64(join('', map { chr int rand 256 }
                                            1 .. 16), '');
    $r->{key} = $key;
    my $req;
    if (defined $o{request}) {
        $req = $o{request};
    } else {
        my @h;
        if (!$o{no_defaults}) {
            @h = ([Host => "127.0.0.1:$port"], [Upgrade => 'websocket'],
                  [Connection => 'Upgrade'], ['Sec-WebSocket-Key' => $key],
                  ['Sec-WebSocket-Version' => 13]);
        }
        if (ref $headers eq 'HASH') {
            for my $k (sort keys %$headers) {
                my @same = grep { lc $_->[0] eq lc $k } @h;
                if (@same) {
                    if (defined $headers->{$k}) {
                        $_->[1] = $headers->{$k} for @same;
                    } else {
                        @h = grep { lc $_->[0] ne lc $k } @h;
                    }
                } elsif (defined $headers->{$k}) {
                    push @h, [$k => $headers->{$k}];
                }
            }
        } elsif (ref $headers eq 'ARRAY') {
            push @h, @$headers;
        }
        $req = ($o{method} // 'GET') . " $path HTTP/1.1\r\n"
            . join('', map { "$_->[0]: $_->[1]\r\n" } @h) . "\r\n";
        $req .= $o{body} if defined $o{body};
    }
    $r->write($req);
    $r->read_response($o{timeout} // 5) unless $o{no_response};
    return $r;
}

sub sock   { $_[0]{sock} }
sub status { $_[0]{status} }
sub status_line { $_[0]{status_line} }
sub body   { $_[0]{body} }
sub json   { my $r = shift; eval { decode_json($r->{body}) } }
sub header {
    my ($r, $name) = @_;
    my $v = $r->{headers}{lc $name};
    return undef unless $v;
    return join ', ', @$v;
}
sub expected_accept {
    my $r = shift;
    return encode_base64(sha1($r->{key} . $WS_GUID), '');
}

# reads more bytes into the buffer; returns bytes read, 0 on EOF / reset,
# undef on timeout
sub fill {
    my ($r, $timeout) = @_;
    return 0 if $r->{eof};
    my $sel = IO::Select->new($r->{sock});
    my $end = time + ($timeout // 5);
    while (1) {
        my $left = $end - time;
        return undef if $left <= 0;
        next unless $sel->can_read($left);
        my $n = sysread $r->{sock}, my $chunk, 65536;
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN;
            $r->{reset} = 1 if $! == ECONNRESET;
            $r->{error} = "$!";
            $r->{eof} = 1;
            return 0;
        }
        if ($n == 0) {
            $r->{eof} = 1;
            return 0;
        }
        $r->{buf} .= $chunk;
        return $n;
    }
}

sub read_response {
    my ($r, $timeout) = @_;
    my $end = time + $timeout;
    while ($r->{buf} !~ /\r\n\r\n/) {
        my $n = $r->fill($end - time);
        last unless $n;
    }
    my $i = index $r->{buf}, "\r\n\r\n";
    if ($i < 0) {
        $r->{status} = 0;
        return;
    }
    my $head = substr $r->{buf}, 0, $i + 4, '';
    my @lines = split /\r\n/, $head;
    $r->{status_line} = shift @lines;
    ($r->{status}) = $r->{status_line} =~ m{^HTTP/1\.[01] (\d{3})};
    $r->{status} //= 0;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*?)\s*$/ or next;
        push @{ $r->{headers}{lc $k} }, $v;
    }
    return if $r->{status} == 101;
    # no body, whatever the headers say (RFC 9112 section 6.3)
    if ($r->{status} == 204 || $r->{status} == 304) {
        $r->{body} = '';
        return;
    }
    # a body: Content-Length, chunked, or until EOF
    if (defined(my $len = $r->header('Content-Length'))) {
        while (length $r->{buf} < $len) {
            last unless $r->fill($end - time);
        }
        $r->{body} = substr $r->{buf}, 0, $len, '';
    } elsif (($r->header('Transfer-Encoding') // '') =~ /chunked/i) {
        my $body = '';
        while (1) {
            while ($r->{buf} !~ /\r\n/) { last unless $r->fill($end - time) }
            $r->{buf} =~ s/^([0-9a-fA-F]+)[^\r]*\r\n// or last;
            my $n = hex $1;
            while (length $r->{buf} < $n + 2) {
                last unless $r->fill($end - time);
            }
            $body .= substr $r->{buf}, 0, $n, '';
            substr $r->{buf}, 0, 2, '';
            last if $n == 0;
        }
        $r->{body} = $body;
    } else {
        1 while $r->fill($end - time);
        $r->{body} = delete $r->{buf};
        $r->{buf} = '';
    }
}

sub write {
    my ($r, $bytes) = @_;
    my $off = 0;
    while ($off < length $bytes) {
        my $n = syswrite $r->{sock}, $bytes, length($bytes) - $off, $off;
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN;
            $r->{write_error} = "$!";
            return undef;
        }
        $off += $n;
    }
    return $off;
}

sub frame_bytes {
    my ($opcode, $payload, %o) = @_;
    $payload //= '';
    my $fin = $o{fin} // 1;
    my $mask = $o{mask} // 1;
    my $rsv = $o{rsv} // 0;
    my $len = $o{length} // length $payload;
    my $b = chr((($fin ? 1 : 0) << 7) | (($rsv & 7) << 4) | ($opcode & 15));
    my $m = $mask ? 0x80 : 0;
    my $enc = $o{len_bits} // ($len < 126 ? 7 : $len < 65536 ? 16 : 64);
    if ($enc == 7) {
        $b .= chr($m | $len);
    } elsif ($enc == 16) {
        $b .= chr($m | 126) . pack('n', $len);
    } else {
        $b .= chr($m | 127) . pack('Q>', $len);
    }
    if ($mask) {
        my $key = $o{mask_key} // pack('N', int rand 2**32);
        my $k = substr($key x (int(length($payload) / 4) + 1), 0,
                       length $payload);
        $b .= $key . ($payload ^ $k);
    } else {
        $b .= $payload;
    }
    return $b;
}

# send_frame(opcode, payload, fin => 1, mask => 1, rsv => 0 (3 bits),
#            split => [sizes] | N (pieces of N bytes), length => N (lie),
#            len_bits => 7|16|64, pause => seconds between pieces)
sub send_frame {
    my ($r, $opcode, $payload, %o) = @_;
    my $bytes = frame_bytes($opcode, $payload, %o);
    return $r->send_raw($bytes, %o);
}

sub send_raw {
    my ($r, $bytes, %o) = @_;
    my $split = $o{split};
    return $r->write($bytes) unless $split;
    my @sizes = ref $split ? @$split : ();
    my $off = 0;
    my $total = 0;
    while ($off < length $bytes) {
        my $n = ref $split ? (shift(@sizes) // length($bytes) - $off) : $split;
        my $w = $r->write(substr $bytes, $off, $n);
        return undef unless defined $w;
        $total += $w;
        $off += $n;
        # pacing, so that the pieces leave as separate TCP segments
        sleep($o{pause} // 0.001) if $off < length $bytes;
    }
    return $total;
}

sub send_text {
    my ($r, $text, %o) = @_;
    $r->send_frame(1, $text, %o);
}

sub send_json {
    my ($r, $obj, %o) = @_;
    $r->send_frame(1, encode_json($obj), %o);
}

sub send_close {
    my ($r, $code, $reason, %o) = @_;
    my $p = defined $code ? pack('n', $code) : '';
    $p .= $reason if defined $reason;
    $r->send_frame(8, $p, %o);
}

# Next server frame: {opcode, fin, rsv, masked, payload}; undef on timeout
# or EOF (then ->is_eof is true).
sub read_frame {
    my ($r, $timeout) = @_;
    my $end = time + ($timeout // 5);
    while (1) {
        my $f = $r->parse_frame;
        return $f if $f;
        my $n = $r->fill($end - time);
        return undef unless $n;
    }
}

sub parse_frame {
    my $r = shift;
    my $b = \$r->{buf};
    return undef if length $$b < 2;
    my ($b0, $b1) = unpack 'CC', $$b;
    my $len = $b1 & 0x7f;
    my $masked = $b1 & 0x80;
    my $p = 2;
    if ($len == 126) {
        return undef if length $$b < 4;
        $len = unpack 'n', substr $$b, 2, 2;
        $p = 4;
    } elsif ($len == 127) {
        return undef if length $$b < 10;
        $len = unpack 'Q>', substr $$b, 2, 8;
        $p = 10;
    }
    my $key = '';
    if ($masked) {
        return undef if length $$b < $p + 4;
        $key = substr $$b, $p, 4;
        $p += 4;
    }
    return undef if length $$b < $p + $len;
    substr $$b, 0, $p, '';
    my $payload = substr $$b, 0, $len, '';
    if ($masked) {
        $payload ^= substr($key x (int($len / 4) + 1), 0, $len);
    }
    return { fin => ($b0 >> 7) & 1, rsv => ($b0 >> 4) & 7,
             opcode => $b0 & 15, masked => $masked ? 1 : 0,
             payload => $payload, length => $len };
}

# Next complete data message as decoded JSON (answers pings, skips pongs);
# undef on timeout / EOF / close (a close is kept in ->{close}).
sub read_json {
    my ($r, $timeout) = @_;
    my $end = time + ($timeout // 5);
    my $msg = '';
    while (1) {
        my $f = $r->read_frame($end - time) or return undef;
        if ($f->{opcode} == 9) { $r->send_frame(10, $f->{payload}); next }
        next if $f->{opcode} == 10;
        if ($f->{opcode} == 8) { $r->{close} = $f; return undef }
        $msg .= $f->{payload};
        next unless $f->{fin};
        my $j = eval { decode_json($msg) };
        return $j // { type => '_invalid_json', raw => $msg };
    }
}

# Reads frames up to a close frame; returns (code, reason) of it; () when
# the connection ended or the timeout passed without one; (undef, '') for
# an empty close payload.  Skipped frames land in ->{skipped}.
sub read_close {
    my ($r, $timeout) = @_;
    my $end = time + ($timeout // 5);
    while (1) {
        my $f = $r->read_frame($end - time);
        return () unless $f;
        if ($f->{opcode} == 8) {
            $r->{close} = $f;
            return (undef, '') if length $f->{payload} < 2;
            return (unpack('n', $f->{payload}), substr($f->{payload}, 2));
        }
        push @{ $r->{skipped} }, $f;
    }
}

# True when the peer closed the TCP connection (EOF or reset) within
# $timeout; data arriving meanwhile is kept in the buffer.
sub is_eof {
    my ($r, $timeout) = @_;
    my $end = time + ($timeout // 5);
    while (!$r->{eof}) {
        my $n = $r->fill($end - time);
        last unless defined $n;
    }
    return $r->{eof};
}

sub close { my $r = shift; CORE::close($r->{sock}) }

1;
