#!/usr/bin/perl
# bench/soak-report.pl: the verdict and the plot of a soak run
# (bench/soak.sh), from its samples.csv and reloads.txt.
#
#   soak-report.pl --dir DIR --steady MINUTE [--conns N] [--gen-rc RC]
#   soak-report.pl --machine     (the machine, one line, for the header)
#
# Over the steady window (from MINUTE to the end) each series gets its
# min, median and max, its least-squares slope a minute, and the medians
# of the window's first and last fifths.  The rules:
#   level    (memory, open files, Redis and PostgreSQL connections, old
#            workers, connections): FLAT when the last fifth's median is
#            at most the first fifth's plus PCT% plus SLACK, else GROWING
#   floor    (ready connections, acks a second): KEPT when the last
#            fifth's median is at least PCT% of the first fifth's, else
#            DROPPING
#   rate     (error-log lines at warn and above; the generator's errors:
#            error replies, connect failures, closes other than a
#            reload's 1001/1012): FLAT when the rate a minute over the
#            window's second half is at most twice the first half's plus
#            SLACK a minute, else GROWING
# The generator's RESULT line (DIR/gen.txt) says whether every joined
# connection got each durable event of its rooms once, in rev order,
# with no gap (protocol.md 5a): revs skipped, repeated, or never come by
# the end must all be 0.
# Exit status 1 when a series is not FLAT or KEPT, when the generator
# failed (--gen-rc), when a rev was skipped, repeated or never came (or
# none was checked), or with fewer than 5 samples in the window.  Writes
# DIR/soak.png with gnuplot when it is installed.

use strict;
use warnings;
use Getopt::Long;

my ($dir, $steady, $conns, $gen_rc) = (undef, 5, 0, 0);
GetOptions('dir=s' => \$dir, 'steady=f' => \$steady, 'conns=i' => \$conns,
           'gen-rc=i' => \$gen_rc, 'machine' => \my $machine)
    or die "usage: soak-report.pl --dir DIR --steady MINUTE\n"
         . "       soak-report.pl --machine\n";

# --machine: one line on the machine, for the run's header
if ($machine) {
    my ($cpu, $kb) = ('unknown CPU', 0);
    if (open my $c, '<', '/proc/cpuinfo') {
        ($cpu) = map { /^model name\s*: (.*)/ ? $1 : () } <$c>;
    }
    if (open my $m, '<', '/proc/meminfo') {
        ($kb) = map { /^MemTotal:\s+(\d+)/ ? $1 : () } <$m>;
    }
    chomp(my $cores = `nproc`);
    chomp(my $kernel = `uname -r`);
    printf "machine   %s, %s cores, %.1f GiB, Linux %s\n", $cpu, $cores,
        $kb / 1048576, $kernel;
    exit 0;
}
defined $dir or die "soak-report.pl: --dir is required\n";

open my $fh, '<', "$dir/samples.csv" or die "$dir/samples.csv: $!\n";
chomp(my $head = <$fh>);
my @cols = split /,/, $head;
my %col;
@col{@cols} = (0 .. $#cols);
my @rows;
while (<$fh>) {
    chomp;
    my @f = split /,/, $_, -1;
    push @rows, { map { $cols[$_] => $f[$_] } 0 .. $#cols };
}
close $fh;

my @reloads;
if (open my $rh, '<', "$dir/reloads.txt") {
    @reloads = map { /^([\d.]+)$/ ? $1 / 60 : () } <$rh>;
    close $rh;
}
my $reload_failed = 0;
if (open my $rh, '<', "$dir/reloads.txt") {
    $reload_failed = grep { /^failed/ } <$rh>;
    close $rh;
}

sub num { defined $_[0] && $_[0] ne '' }

# derived per-sample series: rates from the generator's counts
for my $r (@rows) {
    my $s = $r->{gen_secs};
    if (num($s) && $s > 0) {
        $r->{acked_s} = $r->{gen_acked} / $s;
        $r->{reconnects_s} = $r->{gen_reconnects} / $s;
        $r->{gen_bad} = $r->{gen_send_errors} + $r->{gen_errors}
            + $r->{gen_connect_fail} + $r->{gen_closes_1006}
            + $r->{gen_closes_other};
    }
    $r->{log_lines} = $r->{log_warn} + $r->{log_error} + $r->{log_crit}
        if num($r->{log_warn});
    $r->{rss_mib} = $r->{rss_kb} / 1024 if num($r->{rss_kb});
    $r->{anon_mib} = $r->{anon_kb} / 1024 if num($r->{anon_kb});
    $r->{old_rss_mib} = $r->{old_rss_kb} / 1024 if num($r->{old_rss_kb});
}

my @win = grep { $_->{minute} >= $steady } @rows;
my $end = @rows ? $rows[-1]{minute} : 0;

sub median {
    my @v = sort { $a <=> $b } @_;
    return undef unless @v;
    return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

sub slope {
    my ($xs, $ys) = @_;
    my $n = @$xs;
    return 0 if $n < 2;
    my ($mx, $my) = (0, 0);
    $mx += $_ / $n for @$xs;
    $my += $_ / $n for @$ys;
    my ($sxy, $sxx) = (0, 0);
    for my $i (0 .. $n - 1) {
        $sxy += ($xs->[$i] - $mx) * ($ys->[$i] - $my);
        $sxx += ($xs->[$i] - $mx) ** 2;
    }
    return $sxx ? $sxy / $sxx : 0;
}

# [name, key, rule, pct, slack, decimals]
my @series = (
    ['worker RSS MiB',       'rss_mib',        'level', 5,  8,   1],
    ['worker anon MiB',      'anon_mib',       'level', 5,  8,   1],
    ['worker open files',    'fds',            'level', 2,  100, 0],
    ['old workers',          'old_workers',    'level', 0,  1,   0],
    ['Redis clients',        'redis_clients',  'level', 0,  2,   0],
    ['PostgreSQL conns',     'pg_conns',       'level', 25, 2,   0],
    ['ws_connections',       'ws_connections', 'level', 2,  100, 0],
    ['delivery p99 ms',      'gen_lat_p99_ms', 'level', 100, 25, 1],
    ['ready connections',    'gen_ready',      'floor', 98, 0,   0],
    ['acks/s',               'acked_s',        'floor', 90, 0,   0],
    ['error log warn+',      'log_lines',      'rate',  0,  2,   0],
    ['generator errors',     'gen_bad',        'rate',  0,  10,  0],
);

my @out;
my $bad = 0;
my $fmt = "%-19s %9s %9s %9s %9s %9s %10s  %s\n";
push @out, sprintf $fmt, 'series', 'min', 'median', 'max', 'first5th',
    'last5th', 'slope/min', 'verdict';

my $nw = @win;
my $fifth = $nw >= 5 ? int($nw / 5) : 1;

for my $s (@series) {
    my ($name, $key, $rule, $pct, $slack, $dec) = @$s;
    my @w = grep { num($_->{$key}) } @win;
    if (!@w) {
        push @out, sprintf $fmt, $name, ('-') x 6, 'NO DATA';
        next;
    }
    my @v = map { $_->{$key} } @w;
    my @x = map { $_->{minute} } @w;
    my $f = sprintf "%%.%df", $dec;
    my ($verdict, $first, $last, $sl);

    if ($rule eq 'rate') {
        # cumulative (error log) or counts a sample (generator)
        my $cum = $key eq 'log_lines';
        my $mid = ($w[0]{minute} + $w[-1]{minute}) / 2;
        my (@a, @b);
        for my $i (0 .. $#w) {
            my $inc = $cum ? ($i ? $v[$i] - $v[$i - 1] : 0) : $v[$i];
            push @{ $w[$i]{minute} <= $mid ? \@a : \@b }, $inc;
        }
        my $len = ($w[-1]{minute} - $w[0]{minute}) / 2 || 1;
        my $ra = 0; $ra += $_ for @a; $ra /= $len;
        my $rb = 0; $rb += $_ for @b; $rb /= $len;
        my $tot = $cum ? $v[-1] - $v[0] : do { my $t = 0; $t += $_ for @v; $t };
        $first = sprintf '%.1f/m', $ra;
        $last = sprintf '%.1f/m', $rb;
        $verdict = $rb <= 2 * $ra + $slack ? 'FLAT' : 'GROWING';
        $verdict .= " ($tot in the window; rule: 2nd half <= 2 x 1st"
            . " + $slack/min)";
        $sl = '-';
        @v = sort { $a <=> $b } ($cum ? ($v[0], $v[-1]) : @v);
        push @out, sprintf $fmt, $name, sprintf($f, $v[0]), '-',
            sprintf($f, $v[-1]), $first, $last, $sl, $verdict;
        $bad++ if $verdict =~ /^GROWING/;
        next;
    }

    $first = median(map { $_->{$key} } @w[0 .. $fifth - 1]);
    $last = median(map { $_->{$key} } @w[-$fifth .. -1]);
    $sl = sprintf '%+.3f', slope(\@x, \@v);

    if ($rule eq 'level') {
        my $lim = $first * (1 + $pct / 100) + $slack;
        $verdict = $last <= $lim ? 'FLAT' : 'GROWING';
        $verdict .= sprintf ' (rule: last <= first + %d%% + %s)', $pct, $slack;
    } else {
        my $lim = $first * $pct / 100;
        $verdict = $last >= $lim ? 'KEPT' : 'DROPPING';
        $verdict .= sprintf ' (rule: last >= %d%% of first)', $pct;
    }
    $bad++ if $verdict =~ /^(GROWING|DROPPING)/;

    push @out, sprintf $fmt, $name, sprintf($f, (sort { $a <=> $b } @v)[0]),
        sprintf($f, median(@v)), sprintf($f, (sort { $a <=> $b } @v)[-1]),
        sprintf($f, $first), sprintf($f, $last), $sl, $verdict;
}

# totals over the whole run
my %tot;
for my $r (@rows) {
    for my $k (qw(gen_sent gen_acked gen_send_errors gen_errors
                  gen_connect_fail gen_closes_1001 gen_closes_1012
                  gen_closes_1006 gen_closes_other gen_churned
                  gen_reconnects gen_reconnected)) {
        $tot{$k} += $r->{$k} if num($r->{$k});
    }
}
my $last = @rows ? $rows[-1] : {};

print "\n== soak: ", scalar(@rows), " samples over ", sprintf('%.1f', $end),
    " min, steady window from minute $steady (", scalar(@win),
    " samples, fifths of $fifth)\n";
printf "reloads   %d at minute %s%s\n", scalar(@reloads),
    join(', ', map { sprintf '%.1f', $_ } @reloads) || '-',
    $reload_failed ? ", $reload_failed FAILED" : '';
printf "traffic   %d sent, %d acked, %d send errors, %d other error replies,"
    . " %d connect failures\n", map { $tot{$_} // 0 }
    qw(gen_sent gen_acked gen_send_errors gen_errors gen_connect_fail);
printf "closes    by the server: 1001 %d, 1012 %d, 1006 %d, other %d;"
    . " churned %d; reconnects %d, %d of them ready again\n",
    map { $tot{$_} // 0 } qw(gen_closes_1001 gen_closes_1012 gen_closes_1006
        gen_closes_other gen_churned gen_reconnects gen_reconnected);
printf "error log %s warn, %s error, %s crit/alert/emerg lines since the"
    . " start\n", map { $last->{$_} // '-' } qw(log_warn log_error log_crit);

# the generator's check of every joined connection's revs
my %rev;
if (open my $g, '<', "$dir/gen.txt") {
    while (<$g>) {
        next unless /^RESULT /;
        $rev{$1} = $2 while /\brev_(checked|gaps|dups|tail)=(\d+)/g;
    }
}
printf "revisions %s events checked by rev: %s skipped, %s repeated, %s"
    . " never came\n\n", map { $rev{$_} // '-' } qw(checked gaps dups tail);
print @out;

my @why;
push @why, "chat-bench exited with $gen_rc" if $gen_rc;
push @why, "only " . scalar(@win) . " samples in the steady window"
    if @win < 5;
push @why, "$bad series not flat" if $bad;
push @why, "$reload_failed reloads failed" if $reload_failed;
push @why, "crit/alert/emerg lines in the error log"
    if num($last->{log_crit}) && $last->{log_crit} > 0;
push @why, "no event checked by rev" unless $rev{checked};
push @why, "revs skipped ($rev{gaps}), repeated ($rev{dups}) or never come"
    . " ($rev{tail})"
    if ($rev{gaps} // 0) + ($rev{dups} // 0) + ($rev{tail} // 0) > 0;

print "\nverdict   ", @why ? 'FAIL: ' . join('; ', @why) : 'PASS: every'
    . ' series flat from minute ' . $steady . ' to the end', "\n";

plot();

exit(@why ? 1 : 0);


# gnuplot, or gnuplot-nox installed with apt-get by root
sub have_gnuplot {
    my $have = sub { system('command -v gnuplot >/dev/null 2>&1') == 0 };
    return 1 if $have->();
    if ($> != 0) {
        warn "soak-report.pl: no gnuplot (apt-get install gnuplot-nox):"
            . " no plot\n";
        return 0;
    }
    print "soak-report.pl: installing gnuplot-nox\n";
    local $ENV{DEBIAN_FRONTEND} = 'noninteractive';
    my $get = 'apt-get install -y -qq --no-install-recommends gnuplot-nox'
        . ' >/dev/null 2>&1';
    system($get) == 0 or system("apt-get update -qq >/dev/null 2>&1; $get");
    return 1 if $have->();
    warn "soak-report.pl: gnuplot-nox did not install: no plot\n";
    return 0;
}

# the four panels of soak.png, with the reloads as vertical lines
sub plot {
    return unless @rows;
    return unless have_gnuplot();

    my $dat = "$dir/plot.dat";
    my @k = qw(minute rss_mib anon_mib old_rss_mib fds ws_connections
               gen_ready redis_clients pg_conns old_workers acked_s
               reconnects_s gen_lat_p99_ms log_lines gen_bad);
    open my $d, '>', $dat or die "$dat: $!\n";
    for my $r (@rows) {
        print $d join(' ', map { num($r->{$_}) ? $r->{$_} : 'NaN' } @k), "\n";
    }
    close $d;
    my %c;
    @c{@k} = (1 .. @k);

    my $marks = join '', map {
        sprintf "set arrow from %.2f, graph 0 to %.2f, graph 1 nohead"
            . " lc rgb '#999999' dt 2\n", $_, $_ } @reloads;
    $marks .= sprintf "set arrow from %.2f, graph 0 to %.2f, graph 1 nohead"
        . " lc rgb '#cc0000' dt 3\n", $steady, $steady;
    my $u = sub { my $k = shift; "'$dat' using 1:$c{$k}" };
    my $xmax = sprintf '%.1f', $end;
    my $ymax = 1;
    for my $r (@rows) {
        for (qw(redis_clients pg_conns old_workers)) {
            $ymax = $r->{$_} if num($r->{$_}) && $r->{$_} > $ymax;
        }
    }
    $ymax = int($ymax * 1.3) + 1;

    my $gp = <<GP;
set terminal pngcairo size 1400,1000 font ",10" noenhanced
set output '$dir/soak.png'
set multiplot layout 2,2 title "ngx_chat soak: $conns connections; reloads: grey, the steady window from the red line"
set xlabel "minute"
set xrange [0:$xmax]
set grid
set key below
$marks
set title "nginx workers' memory (MiB)"
set yrange [0:*]
plot @{[ $u->('rss_mib') ]} with lines lw 2 title "RSS, current workers", \\
     @{[ $u->('anon_mib') ]} with lines lw 2 title "anonymous RSS", \\
     @{[ $u->('old_rss_mib') ]} with lines title "RSS, old workers shutting down"
set title "open files and connections"
plot @{[ $u->('fds') ]} with lines lw 2 title "workers' open files", \\
     @{[ $u->('ws_connections') ]} with lines title "ngx_chat_ws_connections", \\
     @{[ $u->('gen_ready') ]} with lines title "generator: ready"
set title "backend connections"
set yrange [0:$ymax]
plot @{[ $u->('redis_clients') ]} with steps lw 2 title "Redis clients", \\
     @{[ $u->('pg_conns') ]} with steps lw 2 title "PostgreSQL backends", \\
     @{[ $u->('old_workers') ]} with steps title "old workers"
set title "load"
set yrange [0:*]
set ylabel "per second"
set y2label "ms"
set y2tics
set y2range [0:*]
plot @{[ $u->('acked_s') ]} with lines lw 2 title "acks/s", \\
     @{[ $u->('reconnects_s') ]} with lines title "reconnects/s", \\
     @{[ $u->('gen_bad') ]} with impulses title "errors (a sample)", \\
     @{[ $u->('gen_lat_p99_ms') ]} axes x1y2 with lines title "delivery p99 (ms, right)"
unset multiplot
GP
    open my $g, '>', "$dir/soak.gp" or die "$dir/soak.gp: $!\n";
    print $g $gp;
    close $g;
    system('gnuplot', "$dir/soak.gp") == 0
        or warn "soak-report.pl: gnuplot failed\n";
}
