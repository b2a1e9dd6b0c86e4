# A message's meta is what its sender wrote, byte for byte (issue 8,
# point 4): numbers keep their spelling (1e308 is not written out in
# 309 digits), escapes, white space and key order stay, in the live
# event, the join replay, WebSocket history and REST history, whether it
# was sent over the WebSocket or REST.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Mojo::JSON qw(encode_json);
use ChatTest;

my $ng = start_nginx(workers => 1);
my $room = rand_room('meta');

my @metas = (
    '{"n":1e308}',
    '{"a":1.0E+2,"b":0.1000,"c":-0,"d":12345678901234567890123e-3}',
    '{"u":"\u00e9","e":"\ud83d\ude00","q":"a\/b\"c\\\\"}',
    "{ \"z\" : 1 ,\n\t\"a\":[ 2 , 3 ] , \"m\" : { } }",
    '{"b":1,"a":2,"B":{"y":null,"x":true}}',
);

# every text frame a client receives, as sent
sub raw_frames {
    my ($c) = @_;
    my @raw;
    $c->tx->on(text => sub { push @raw, $_[1] });
    return \@raw;
}

# the text holds "meta": followed by exactly $meta and the end of the field
sub has_meta {
    my ($text, $meta) = @_;
    return index($text, qq{"meta":$meta,"}) >= 0
           || index($text, qq{"meta":$meta\}}) >= 0;
}

# alice and bob logged in to $nginx and joined to $room; bob's raw frames
sub two_joined {
    my ($nginx, $room) = @_;
    my @c = map { login($nginx, $_) } 'alice', 'bob';
    my $raw = raw_frames($c[1]);
    is $_->request({ type => 'join', room => $room })->{type}, 'ok',
        'joined' for @c;
    return (@c, $raw);
}

my ($alice, $bob, $bob_raw) = two_joined($ng, $room);

# ---- sent over the WebSocket, as text the client wrote
my @seq;
my $i = 0;
for my $meta (@metas) {
    $i++;
    my $frame = qq({"type":"send","id":"m$i","room":"$room",)
              . qq("body":"meta $i","meta":  $meta  });
    $alice->send_text($frame);
    my $r = $alice->wait_for(sub { ($_->{id} // '') eq "m$i" }, 10);
    is $r && $r->{type}, 'ok', "send $i acknowledged"
        or diag explain $r;
    push @seq, $r->{seq};
    ok $bob->wait_for(sub { ($_->{type} // '') eq 'message'
                            && $_->{seq} == $r->{seq} }, 10),
        "event $i arrived";
}

# ---- and over REST
my $rest_meta = '{"r":1E+308, "s" : "\u00e9"}';
my $p = api($ng, POST => "/rooms/$room/messages", user => 'carol',
            body => qq({"body":"rest","meta":$rest_meta}),
            headers => { 'Content-Type' => 'application/json' });
is $p->{status}, 201, 'REST send: 201' or diag $p->{body};
push @metas, $rest_meta;
push @seq, $p->{json}{seq};
ok $bob->wait_for(sub { ($_->{type} // '') eq 'message'
                        && $_->{seq} == $seq[-1] }, 10),
    'REST event arrived';

# the message events of seqs @$seqs among frames @$raw carry @$metas
sub events_have_metas {
    my ($raw, $seqs, $metas, $name) = @_;
    for my $k (0 .. $#$metas) {
        my ($ev) = grep { /"type":"message"/ && /"seq":$seqs->[$k],/ } @$raw;
        ok $ev && has_meta($ev, $metas->[$k]), "$name $k: meta as sent"
            or diag $ev;
    }
}

# ---- the live events, as bob's socket got them
events_have_metas($bob_raw, \@seq, \@metas, 'live event');

# ---- the join replay
my $carl = login($ng, 'carl');
my $carl_raw = raw_frames($carl);
my $j = $carl->request({ type => 'join', room => $room,
                         since => $seq[0] - 1 }, 10);
is $j->{type}, 'ok', 'join with since';
ok $carl->wait_for(sub { ($_->{type} // '') eq 'message'
                         && $_->{seq} == $seq[-1] }, 10),
    'the replay came';
events_have_metas($carl_raw, \@seq, \@metas, 'replayed event');

# ---- WebSocket history
my $h = $bob->request({ type => 'history', room => $room, id => 'h1' }, 10);
is $h->{type}, 'ok', 'history';
my ($hraw) = grep { /"id":"h1"/ } @$bob_raw;
for my $k (0 .. $#metas) {
    ok $hraw && has_meta($hraw, $metas[$k]), "history entry $k: meta as sent";
}

# ---- REST history
my $g = api($ng, GET => "/rooms/$room/messages", user => 'bob');
is $g->{status}, 200, 'REST history';
for my $k (0 .. $#metas) {
    ok has_meta($g->{body}, $metas[$k]), "REST history entry $k: meta as sent";
}

# ---- no amplification: 4 KB of meta stays about 4 KB everywhere
my $big = '{' . join(',', map { qq("k$_":1e308) } 1 .. 300) . '}';
cmp_ok length($big), '<=', 4096, 'the big meta is within the cap';
$alice->send_text(qq({"type":"send","id":"big","room":"$room",)
                  . qq("body":"big","meta":$big}));
my $r = $alice->wait_for(sub { ($_->{id} // '') eq 'big' }, 10);
is $r && $r->{type}, 'ok', 'the big meta is accepted';
$h = $bob->request({ type => 'history', room => $room, limit => 1,
                     id => 'h2' }, 10);
my ($h2) = grep { /"id":"h2"/ } @$bob_raw;
ok $h2 && has_meta($h2, $big), 'history gives the big meta as sent';
cmp_ok length($h2 // ''), '<', length($big) + 512,
    'a history page of it stays that size (' . length($h2 // '') . ')';

# white space counts against the cap: what is stored is what was sent
my $padded = '{"k":' . (' ' x 4100) . '1}';
$alice->send_text(qq({"type":"send","id":"pad","room":"$room",)
                  . qq("body":"pad","meta":$padded}));
$r = $alice->wait_for(sub { ($_->{id} // '') eq 'pad' }, 10);
is $r && $r->{code}, 'too_large', 'meta over 4096 bytes as sent: too_large';

close_all($alice, $bob, $carl);
$ng->stop;

# ---- chat_store redis: the event carries the text as sent too
my $rs = start_nginx(workers => 1, loc => 'chat_store redis;');
my $rroom = rand_room('meta-redis');
my ($ra, $rb, $rb_raw) = two_joined($rs, $rroom);
$i = 0;
my @rseq;
for my $meta (@metas) {
    $i++;
    $ra->send_text(qq({"type":"send","id":"r$i","room":"$rroom",)
                   . qq("body":"redis $i","meta":$meta}));
    my $r = $ra->wait_for(sub { ($_->{id} // '') eq "r$i" }, 10);
    is $r && $r->{type}, 'ok', "redis store: send $i";
    push @rseq, $r->{seq};
    ok $rb->wait_for(sub { ($_->{type} // '') eq 'message'
                           && $_->{seq} == $r->{seq} }, 10),
        "redis store: event $i";
}
events_have_metas($rb_raw, \@rseq, \@metas, 'redis store event');
close_all($ra, $rb);
$rs->stop;
done_testing;
