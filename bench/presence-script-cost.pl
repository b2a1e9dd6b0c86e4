#!/usr/bin/perl
# What the presence script costs Redis per connection, alone: the script
# of two builds (their C sources) run in turn on one Redis, with the
# changes a loop tick of a connect storm sends (each connection a user
# online and the user in a room of two), then the same users' removals.
#
#   bench/presence-script-cost.pl --port P SRC_A SRC_B
#       [--live N] [--batch N] [--ticks N] [--rounds N]
#
# SRC is a src/ngx_chat_presence_script.c (git show REV:src/... > FILE).
# --live: live instances in presence:workers besides the one sending (1),
# --batch: connections a script (100), --ticks: scripts a run (50),
# --rounds: A and B alternated (3).  Redis is the caller's, empty, with
# nothing subscribed (PUBLISH is one call, no delivery).  Prints per run
# Redis's CPU (INFO cpu: getrusage) and the commands the scripts ran, per
# connection added and removed.
use strict;
use warnings;
use Getopt::Long;
use IO::Socket::INET;
use Time::HiRes ();

my ($port, $live, $batch, $ticks, $rounds) = (6379, 1, 100, 50, 3);
GetOptions('port=i' => \$port, 'live=i' => \$live, 'batch=i' => \$batch,
           'ticks=i' => \$ticks, 'rounds=i' => \$rounds)
    and @ARGV == 2 or die "usage: $0 --port P SRC_A SRC_B [options]\n";

my $r = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
    or die "redis on $port: $!\n";

sub cmd {
    my $s = '*' . @_ . "\r\n";
    $s .= '$' . length($_) . "\r\n$_\r\n" for @_;
    print $r $s;
    return reply();
}

sub reply {
    my $l = <$r>;
    defined $l or die "redis closed\n";
    $l =~ s/\r\n$//;
    my ($t, $v) = (substr($l, 0, 1), substr($l, 1));
    die "redis: $v\n" if $t eq '-';
    return $v if $t eq '+' || $t eq ':';
    if ($t eq '$') {
        return undef if $v < 0;
        my $d = '';
        read($r, $d, $v + 2, 0) while length($d) < $v + 2;
        return substr($d, 0, $v);
    }
    return [map { reply() } 1 .. $v] if $t eq '*';
    die "redis: unexpected $l\n";
}

# the script of a C source: its string literal's pieces, unescaped
sub script {
    my ($f) = @_;
    open my $h, '<', $f or die "$f: $!\n";
    local $/;
    my $c = <$h>;
    $c =~ /ngx_chat_presence_script\[\]\s*=\s*(.*?);\n/s
        or die "$f: no ngx_chat_presence_script\n";
    my ($lit, $s) = ($1, '');
    for my $p ($lit =~ /"((?:[^"\\]|\\.)*)"/g) {
        $p =~ s/\\(.)/$1 eq 'n' ? "\n" : $1/ge;
        $s .= $p;
    }
    return $s;
}

sub stats {
    my %s;
    for (split /\r\n/, cmd('INFO', 'commandstats')) {
        $s{$1} = $2 if /^cmdstat_(\w+):calls=(\d+)/;
    }
    my $cpu = 0;
    for (split /\r\n/, cmd('INFO', 'cpu')) {
        $cpu += $1 if /^used_cpu_(?:sys|user):([\d.]+)/;
    }
    $s{cpu} = $cpu;
    return \%s;
}

my @sha = map { cmd('SCRIPT', 'LOAD', script($_)) } @ARGV;
my $run = 0;

sub measure {
    my ($sha) = @_;
    my $p = 'pcost' . $run++ . ':';
    my $id = 'self';
    my $exp = 3600000;
    my $t = int(Time::HiRes::time() * 1000);

    cmd('ZADD', "${p}presence:workers", $t + $exp, "other$_") for 1 .. $live;

    my $s0 = stats();
    for my $sign ('+', '-') {
        for my $k (0 .. $ticks - 1) {
            my @a;
            for my $i ($k * $batch .. ($k + 1) * $batch - 1) {
                my $u = "u$i";
                my $e = ["$sign", "u $u", "$sign",
                         'r room: r' . int($i / 2) . " $u"];
                @$e = @$e[2, 3, 0, 1] if $sign eq '-';
                push @a, @$e;
            }
            cmd('EVALSHA', $sha, 0, $p, 'ops', $id, $exp, @a);
        }
    }
    my $s1 = stats();

    my $n = $batch * $ticks;
    my $calls = 0;
    for (keys %$s1) {
        next if /^(cpu|info|evalsha|zadd)$/;
        $calls += $s1->{$_} - ($s0->{$_} // 0);
    }
    cmd('DEL', map { "${p}$_" } 'presence:workers', 'presence:beats',
        'presence:seen', "presence:worker:$id");
    cmd('DEL', map { "${p}presence:in:room:r$_" } 0 .. $n / 2);
    return (($s1->{cpu} - $s0->{cpu}) * 1e6 / $n, $calls / $n);
}

printf "%d live instance(s) besides the sender, %d connections a script, "
    . "%d scripts a run\n", $live, $batch, $ticks;
for my $round (1 .. $rounds) {
    for my $i (0, 1) {
        my ($us, $calls) = measure($sha[$i]);
        printf "RESULT src=%s round=%d redis_us_per_conn=%.2f "
            . "calls_per_conn=%.2f\n", $ARGV[$i], $round, $us, $calls;
    }
}
