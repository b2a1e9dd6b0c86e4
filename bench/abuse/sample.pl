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
die "usage: sample.pl MASTER_PID INTERVAL_S [PID...]\n" unless $master && $interval;
$| = 1;

# the fields of /proc/PID/stat after the command name (state first)
sub stat_fields {
    my $p = shift;
    open(my $f, '<', "/proc/$p/stat") or return ();
    my $s = <$f> // return ();
    $s =~ s/^.*\) //;
    return split ' ', $s;
}

sub ticks {
    my @f = stat_fields(shift);
    return @f ? $f[11] + $f[12] : 0;
}

# the processes whose parent is one of those given
sub children {
    my %of = map { $_ => 1 } @_;
    opendir(my $d, '/proc') or return ();
    return sort { $a <=> $b }
           grep { my @f = stat_fields($_); @f && $of{$f[1]} }
           grep { /^\d+$/ } readdir $d;
}

while (kill 0, $master) {
    my ($ticks, $rss, $fds) = (0, 0, 0);
    my @w = children($master);
    for my $p (@w) {
        $ticks += ticks($p);
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
