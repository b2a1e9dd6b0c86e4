#!/usr/bin/perl
# sample.pl MASTER_PID INTERVAL_S [PID...]: every INTERVAL seconds, one
# line for the nginx master's children (the workers), until killed:
#   <unix time> <utime+stime ticks, all workers> <VmRSS KiB, all workers>
#   <open fds, all workers> <worker pids, comma-separated>
#   <utime+stime ticks of each PID given and its children>
# (the PIDs: Redis and the PostgreSQL postmaster, the backends).
# Workers are found again at each sample, so one that died and was
# replaced shows as a changed pid list.
use strict;
use warnings;
use Time::HiRes qw(time sleep);

my ($master, $interval, @others) = @ARGV;
die "usage: sample.pl MASTER_PID INTERVAL_S\n" unless $master && $interval;
$| = 1;

sub ticks {
    my $p = shift;
    open(my $f, '<', "/proc/$p/stat") or return 0;
    my $s = <$f> // return 0;
    $s =~ s/^.*\) //;
    my @f = split ' ', $s;
    return $f[11] + $f[12];
}

sub children {
    my %of = map { $_ => 1 } @_;
    my @c;
    opendir(my $d, '/proc') or return ();
    for my $p (grep { /^\d+$/ } readdir $d) {
        open(my $f, '<', "/proc/$p/stat") or next;
        my $s = <$f> // next;
        $s =~ s/^.*\) //;
        my @f = split ' ', $s;
        push @c, $p if $of{$f[1]};
    }
    return @c;
}

sub workers {
    my @w;
    opendir(my $d, '/proc') or return ();
    for my $p (grep { /^\d+$/ } readdir $d) {
        open(my $f, '<', "/proc/$p/stat") or next;
        my $s = <$f> // next;
        $s =~ s/^.*\) //;
        my @f = split ' ', $s;
        push @w, $p if $f[1] == $master;
    }
    return sort { $a <=> $b } @w;
}

while (kill 0, $master) {
    my ($ticks, $rss, $fds) = (0, 0, 0);
    my @w = workers();
    for my $p (@w) {
        if (open(my $f, '<', "/proc/$p/stat")) {
            my $s = <$f>;
            $s =~ s/^.*\) //;
            my @f = split ' ', $s;
            $ticks += $f[11] + $f[12];
        }
        if (open(my $f, '<', "/proc/$p/status")) {
            while (<$f>) { $rss += $1 if /^VmRSS:\s+(\d+)/ }
        }
        if (opendir(my $d, "/proc/$p/fd")) {
            $fds += grep { !/^\./ } readdir $d;
        }
    }
    my $bt = 0;
    $bt += ticks($_) for @others, children(@others);
    printf "%.3f %d %d %d %s %d\n", time, $ticks, $rss, $fds,
        join(',', @w) || '-', $bt;
    sleep $interval;
}
