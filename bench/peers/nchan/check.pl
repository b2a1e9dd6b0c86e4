#!/usr/bin/env perl
# Functional check of the nchan peer (bench/peers/nchan/run.sh start first):
# SUBS WebSocket subscribers on /sub/<room>, 5 messages published by HTTP
# POST and 5 over one WebSocket publisher connection; every subscriber must
# get all 10, in order, byte for byte, each as one text frame.  Then it
# holds HOLD subscribers open, prints which nginx worker owns them (ss),
# and checks that one more message reaches all of them.
#
# usage: perl bench/peers/nchan/check.pl [PORT] [ROOM] [SUBS] [HOLD]
use strict;
use warnings;
use utf8;
use Mojo::UserAgent;
use Mojo::IOLoop;
use Encode qw(encode_utf8);

binmode STDOUT, ':encoding(UTF-8)';
$| = 1;

my ($port, $room, $nsubs, $hold) = @ARGV;
$port  ||= 18980;
$room  ||= 'room1';
$nsubs ||= 3;
$hold  //= 20;
my $base = "127.0.0.1:$port";

my $ua = Mojo::UserAgent->new(inactivity_timeout => 30, request_timeout => 10);
my @expect = map { $_ <= 5
        ? qq({"from":"http","n":$_,"text":"héllo wörld $_ – “quoted”"})
        : "ws message $_ with  two spaces, a tab\tand ümlauts" } 1 .. 10;

my (@got, @frames, @subs, $pubws, @pubreplies);
my $fail = 0;

# client local port -> pid of the nginx worker holding the server side
sub owners {
    my %w;
    for (`ss -tnpH state established '( sport = :$port )'`) {
        my ($peer) = /:$port\s+\S+:(\d+)/ or next;
        $w{$peer} = /pid=(\d+)/ ? $1 : '?';
    }
    return \%w;
}

sub done_all { scalar(grep { @{ $got[$_] || [] } >= 10 } 0 .. $nsubs - 1) == $nsubs }

my $connected = 0;
for my $i (0 .. $nsubs - 1) {
    $got[$i] = [];
    $ua->websocket("ws://$base/sub/$room" => sub {
        my ($ua, $tx) = @_;
        die "subscriber $i: handshake failed: " . ($tx->res->code // 'none') . "\n"
            unless $tx->is_websocket;
        $subs[$i] = $tx;
        $tx->on(frame => sub {
            my ($tx, $f) = @_;   # [fin, rsv1, rsv2, rsv3, op, payload]
            push @{ $frames[$i] }, [$f->[0], $f->[4], length $f->[5]];
        });
        $tx->on(message => sub {
            my ($tx, $msg) = @_;
            push @{ $got[$i] }, $msg;
            Mojo::IOLoop->stop if done_all();
        });
        $connected++;
        Mojo::IOLoop->stop if $connected == $nsubs;
    });
}
Mojo::IOLoop->timer(5 => sub { Mojo::IOLoop->stop });
Mojo::IOLoop->start;
die "only $connected of $nsubs subscribers connected\n" unless $connected == $nsubs;
printf "%d subscribers connected to ws://%s/sub/%s (response %s, Sec-WebSocket-Protocol: %s)\n",
    $nsubs, $base, $room, $subs[0]->res->code,
    $subs[0]->res->headers->header('Sec-WebSocket-Protocol') // '-';
my $own = owners();
my %subw; $subw{ $own->{ $_->local_port } // '?' }++ for @subs;
printf "  held by nginx workers: %s\n", join(', ', map { "pid $_: $subw{$_}" } sort keys %subw);

# 5 by HTTP POST
for my $n (1 .. 5) {
    my $tx = $ua->post("http://$base/pub/$room" =>
        { 'Content-Type' => 'text/plain; charset=utf-8' } => encode_utf8($expect[$n - 1]));
    my $body = $tx->res->body;
    $body =~ s/\n/ | /g;
    printf "POST /pub/%s #%d -> %s %s\n", $room, $n, $tx->res->code // 'error', $body;
    $fail = 1 unless ($tx->res->code // 0) =~ /^20[12]$/;
}

# 5 over one WebSocket publisher connection
$ua->websocket("ws://$base/pub/$room" => sub {
    my ($ua, $tx) = @_;
    die "publisher: handshake failed: " . ($tx->res->code // 'none') . "\n"
        unless $tx->is_websocket;
    $pubws = $tx;
    $tx->on(message => sub { push @pubreplies, $_[1] });
    $tx->send($expect[$_ - 1]) for 6 .. 10;    # text frames
});
Mojo::IOLoop->timer(5 => sub { Mojo::IOLoop->stop });
Mojo::IOLoop->start unless done_all();
# a moment more to catch duplicates or publisher replies
Mojo::IOLoop->timer(0.5 => sub { Mojo::IOLoop->stop });
Mojo::IOLoop->start;

printf "WebSocket publisher got %d frame(s) back%s\n", scalar @pubreplies,
    @pubreplies ? ": " . join(' | ', map { s/\n/\\n/gr } @pubreplies) : '';

for my $i (0 .. $nsubs - 1) {
    my @m = @{ $got[$i] };
    my $ok = @m == 10 && !grep { $m[$_] ne $expect[$_] } 0 .. 9;
    my %ops; $ops{ $_->[1] == 1 ? 'text' : $_->[1] == 2 ? 'binary' : "op$_->[1]" }++ for @{ $frames[$i] || [] };
    my $unfin = grep { !$_->[0] } @{ $frames[$i] || [] };
    printf "subscriber %d: %d messages, %s; frames: %s%s\n", $i, scalar @m,
        $ok ? 'all 10 in order, exact payloads' : 'MISMATCH',
        join(', ', map { "$ops{$_} $_" } sort keys %ops),
        $unfin ? ", $unfin not final" : '';
    unless ($ok) {
        $fail = 1;
        for my $k (0 .. 9) {
            my $g = $m[$k] // '(missing)';
            printf "   #%d %s\n      want %s\n", $k + 1, $g, $expect[$k] if $g ne $expect[$k];
        }
    }
}
print "first message as received: $got[0][0]\n" if @{ $got[0] };
$_->finish for grep {defined} @subs, $pubws;
Mojo::IOLoop->timer(0.3 => sub { Mojo::IOLoop->stop });
Mojo::IOLoop->start;

if ($hold) {
    my @held; my $up = 0;
    for my $i (1 .. $hold) {
        $ua->websocket("ws://$base/sub/$room-hold" => sub {
            my ($ua, $tx) = @_;
            push @held, $tx if $tx->is_websocket;
            Mojo::IOLoop->stop if ++$up == $hold;
        });
    }
    Mojo::IOLoop->timer(5 => sub { Mojo::IOLoop->stop });
    Mojo::IOLoop->start;
    printf "%d of %d extra subscribers connected; server side of their sockets (ss -tnp):\n",
        scalar @held, $hold;
    my $own = owners();
    my (%by, $seen);
    for (@held) {
        my $w = $own->{ $_->local_port } // next;
        $seen++;
        $by{$w}++;
    }
    printf "   nginx worker pid %s: %d subscriber sockets\n", $_, $by{$_} for sort keys %by;
    $fail = 1 if ($seen // 0) != @held;
    # one more message must reach the subscribers of both workers
    my $hgot = 0;
    $_->on(message => sub { Mojo::IOLoop->stop if ++$hgot == @held }) for @held;
    my $ptx = $ua->post("http://$base/pub/$room-hold" => 'to every worker');
    Mojo::IOLoop->timer(5 => sub { Mojo::IOLoop->stop });
    Mojo::IOLoop->start unless $hgot == @held;
    printf "   one POST to /pub/%s-hold (%s) reached %d of %d of them\n",
        $room, $ptx->res->code // 'error', $hgot, scalar @held;
    $fail = 1 if $hgot != @held;
    $fail = 1 if keys %by < 2;
    $_->finish for @held;
    Mojo::IOLoop->timer(0.3 => sub { Mojo::IOLoop->stop });
    Mojo::IOLoop->start;
}

print $fail ? "FAIL\n" : "OK\n";
exit $fail;
