package ChatTest::Deflate;

# permessage-deflate (RFC 7692) on the raw client (ChatTest::Raw): a
# client that complies with no context takeover both ways, as the server
# asks, built on Compress::Raw::Zlib; frames read with their RSV1 bit
# kept, so a test sees which came compressed.
#
#   my $r = pmd_open($ng, 'alice', ext => 'permessage-deflate');
#   $r->{pmd}                     the 101's Sec-WebSocket-Extensions
#   my $m = pmd_read($r);         {json, text, compressed, wire} or undef
#   pmd_send($r, {type => 'ping', id => 1});          compressed
#   pmd_send($r, $text, plain => 1);                  not compressed
#   pmd_deflate($text), pmd_inflate($bytes)           one message alone

use strict;
use warnings;

use Compress::Raw::Zlib qw(Z_OK Z_STREAM_END Z_SYNC_FLUSH Z_BUF_ERROR);
use Exporter qw(import);
use Mojo::JSON qw(encode_json decode_json);

use ChatTest::Raw qw(raw_connect);
use ChatTest::Token qw(token);

our @EXPORT_OK = qw(pmd_open pmd_read pmd_send pmd_deflate pmd_inflate
                    pmd_frames);

my $TAIL = "\x00\x00\xff\xff";

# pmd_open($nginx, $user, ext => offer (undef: none), path => '/chat/ws',
#          headers => [[name, value], ...] more request headers)
# The upgrade with a Bearer token, then the welcome; dies unless both.
sub pmd_open {
    my ($ng, $user, %o) = @_;
    my @h = (['Authorization' => 'Bearer ' . token(sub => $user)]);
    push @h, ['Sec-WebSocket-Extensions' => $o{ext}] if defined $o{ext};
    push @h, @{ $o{headers} // [] };
    my $r = raw_connect($ng->port, $o{path} // '/chat/ws', \@h);
    die "pmd_open $user: " . ($r->status_line // 'no answer') . "\n"
        unless $r->status == 101;
    $r->{pmd} = $r->header('Sec-WebSocket-Extensions');
    my $w = pmd_read($r);
    die "pmd_open $user: no welcome\n"
        unless $w && ($w->{json}{type} // '') eq 'welcome';
    $r->{user} = $user;
    return $r;
}

# one message compressed alone, the sync flush's tail taken off
sub pmd_deflate {
    my ($text, %o) = @_;
    my ($d, $st) = Compress::Raw::Zlib::Deflate->new(
        -WindowBits => -($o{bits} // 15), -AppendOutput => 1);
    die "deflate: $st" unless $st == Z_OK;
    my $out = '';
    $d->deflate($text, $out) == Z_OK or die 'deflate';
    $d->flush($out, Z_SYNC_FLUSH) == Z_OK or die 'flush';
    substr($out, -4) eq $TAIL or die 'no sync flush tail';
    return substr $out, 0, -4;
}

# one message inflated alone (a fresh window: no context taken over);
# undef when it is not a complete deflate stream
sub pmd_inflate {
    my ($bytes) = @_;
    my ($i, $st) = Compress::Raw::Zlib::Inflate->new(
        -WindowBits => -15, -AppendOutput => 1, -ConsumeInput => 1);
    die "inflate: $st" unless $st == Z_OK;
    my $in = $bytes . $TAIL;
    my $out = '';
    $st = $i->inflate($in, $out);
    return undef unless $st == Z_OK || $st == Z_STREAM_END
                        || $st == Z_BUF_ERROR;
    return undef if length $in && $st != Z_STREAM_END;
    return $out;
}

# Next data message: {text, json, compressed (RSV1 of its first frame),
# wire (payload bytes as sent)}; pings answered, pongs skipped; undef on
# timeout or close (the close kept in ->{close}).
sub pmd_read {
    my ($r, $timeout) = @_;
    my ($msg, $rsv, $wire) = ('', undef, 0);
    while (1) {
        my $f = $r->read_frame($timeout // 5) or return undef;
        if ($f->{opcode} == 9) { $r->send_frame(10, $f->{payload}); next }
        next if $f->{opcode} == 10;
        if ($f->{opcode} == 8) { $r->{close} = $f; return undef }
        $rsv //= $f->{rsv};
        $msg .= $f->{payload};
        $wire += $f->{length};
        push @{ $r->{pmd_frames} }, $f;
        next unless $f->{fin};
        my $compressed = ($rsv & 4) ? 1 : 0;
        my $text = $compressed ? pmd_inflate($msg) : $msg;
        return { text => $text, compressed => $compressed, wire => $wire,
                 raw => $msg,
                 json => (defined $text
                          ? eval { decode_json($text) } : undef) // {} };
    }
}

# the frames pmd_read took so far, emptied
sub pmd_frames {
    my ($r) = @_;
    return @{ delete $r->{pmd_frames} // [] };
}

# pmd_send($r, $obj_or_text, plain => 1, split => N frames, takeover =>
#          $deflate_object (context kept across messages: what the server
#          refuses))
sub pmd_send {
    my ($r, $msg, %o) = @_;
    my $text = ref $msg ? encode_json($msg) : $msg;
    return $r->send_frame(1, $text) if $o{plain};
    my $z;
    if ($o{takeover}) {
        $z = '';
        $o{takeover}->deflate($text, $z) == Z_OK or die 'deflate';
        $o{takeover}->flush($z, Z_SYNC_FLUSH) == Z_OK or die 'flush';
        $z = substr $z, 0, -4;
    } else {
        $z = pmd_deflate($text);
    }
    my $n = $o{split} // 1;
    my $size = int((length($z) + $n - 1) / $n) || 1;
    my @parts = map { substr $z, $_ * $size, $size } 0 .. $n - 1;
    my $bytes = '';
    for my $i (0 .. $#parts) {
        $bytes .= ChatTest::Raw::frame_bytes($i ? 0 : 1, $parts[$i],
                                             fin => $i == $#parts,
                                             rsv => $i ? 0 : 4);
    }
    return $r->send_raw($bytes);
}

1;
