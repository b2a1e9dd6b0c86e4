#!/usr/bin/perl
# table.pl [--one|--markdown] OUT SCENARIO...: the figures of a "make
# abuse" run (bench/abuse/run.sh) from its output directory OUT:
#   OUT/samples.txt    sample.pl's lines (time ticks rss_kb fds pids
#                      backend_ticks)
#   OUT/S/times        t_pre t_attack t_ready t_probe_end t_end t_after
#   OUT/S/base.txt     the probe on the idle server (chat-bench output)
#   OUT/S/under.txt    the probe under attack
#   OUT/S/attack.txt   the attacker's ATTACK line
#   OUT/S/access.log   the access log written during the scenario
#   OUT/S/error.log    the error log written during the scenario
# --one: a short block for one scenario (progress while running); plain:
# the text table and, per scenario, what the attack sent and received;
# --markdown: the same as markdown.
use strict;
use warnings;
use POSIX ();

my $mode = 'text';
if (@ARGV && $ARGV[0] =~ /^--(one|markdown)$/) {
    $mode = $1;
    shift;
}
my ($out, @sc) = @ARGV;
die "usage: table.pl [--one|--markdown] OUT SCENARIO...\n" unless @sc;

my $hz = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;

my @samples;
if (open(my $f, '<', "$out/samples.txt")) {
    while (<$f>) {
        my @v = split;
        push @samples, [@v] if @v == 6;
    }
}

sub slurp {
    my $f = shift;
    open(my $h, '<', $f) or return '';
    local $/;
    return <$h> // '';
}

sub kv {
    my ($line) = @_;
    my %h;
    $h{$1} = $2 while $line =~ /(\S+?)=(\S+)/g;
    return \%h;
}

# the probe's RESULT line
sub probe {
    my $t = slurp(shift);
    my ($r) = $t =~ /^RESULT (.*)$/m;
    return {} unless $r;
    my $h = kv($r);
    ($h->{conn_p99_ms}) = $t =~ /^connect time .*\bp99 ([\d.]+)/m;
    # no delivery in the window: no latency, not a latency of 0
    if (!$h->{deliveries}) {
        delete @$h{qw(lat_p50_us lat_p99_us)};
    }
    if (!$h->{acked_per_s}) {
        delete @$h{qw(ack_p50_us ack_p99_us)};
    }
    return $h;
}

# samples in [t0, t1]
sub within {
    my ($t0, $t1) = @_;
    return grep { $_->[0] >= $t0 && $_->[0] <= $t1 } @samples;
}

# the last sample at or before t
sub at {
    my $t = shift;
    my $s;
    for (@samples) {
        last if $_->[0] > $t;
        $s = $_;
    }
    return $s;
}

# CPU % of one core between two samples: the workers' (field 1) or the
# backends' (field 5)
sub cpu {
    my ($a, $b, $i) = @_;
    $i //= 1;
    return undef unless $a && $b && $b->[0] > $a->[0];
    return 100 * ($b->[$i] - $a->[$i]) / $hz / ($b->[0] - $a->[0]);
}

sub fig {
    my ($v, $fmt) = @_;
    return defined $v ? sprintf($fmt // '%.0f', $v) : '-';
}

sub ms { defined $_[0] ? sprintf('%.1f', $_[0] / 1000) : '-' }

sub ratio {
    my ($a, $b) = @_;
    return 'none' if $a && !defined $b;
    return '-' unless $a && defined $b;
    return sprintf('%.1f', $b / $a);
}

sub scenario {
    my $s = shift;
    my $d = "$out/$s";
    my %r = (name => $s);
    my @t = split ' ', slurp("$d/times");
    return undef unless @t == 6;
    my ($pre, $att, $ready, $pend, $end, $after) = @t;

    $r{base} = probe("$d/base.txt");
    $r{under} = probe("$d/under.txt");

    # before: the 2 s before the attack; peak: the busiest 1 s of the
    # attack; after: from 1 s after its end
    my @w = within($pre, $att);
    if (@w > 1) {
        $r{cpu0} = cpu($w[0], $w[-1]);
        $r{bcpu0} = cpu($w[0], $w[-1], 5);
    }
    my @a = within($att, $end);
    for my $i (0 .. $#a) {
        my ($j) = grep { $a[$_][0] >= $a[$i][0] + 1 } $i + 1 .. $#a;
        next unless defined $j;
        my $c = cpu($a[$i], $a[$j]);
        $r{cpu_peak} = $c if !defined $r{cpu_peak} || $c > $r{cpu_peak};
        $c = cpu($a[$i], $a[$j], 5);
        $r{bcpu_peak} = $c if !defined $r{bcpu_peak} || $c > $r{bcpu_peak};
    }
    $r{cpu_mean} = cpu($a[0], $a[-1]) if @a > 1;
    @w = within($end + 1, $after);
    $r{cpu1} = cpu($w[0], $w[-1]) if @w > 1;

    my $s0 = at($att);
    my $s1 = at($after);
    if ($s0) {
        $r{rss0} = $s0->[2];
        $r{fds0} = $s0->[3];
    }
    if ($s1) {
        $r{rss1} = $s1->[2];
        $r{fds1} = $s1->[3];
    }
    for (@a, $s1 ? $s1 : ()) {
        $r{rss_peak} = $_->[2] if !defined $r{rss_peak} || $_->[2] > $r{rss_peak};
        $r{fds_peak} = $_->[3] if !defined $r{fds_peak} || $_->[3] > $r{fds_peak};
    }
    my %pids = map { $_->[4] => 1 } within($pre, $after);
    $r{restarted} = keys(%pids) > 1;

    # what the attacker counted
    my ($al) = slurp("$d/attack.txt") =~ /^ATTACK (.*)$/m;
    $r{attack} = $al // 'no ATTACK line';
    $r{attack} =~ s/^scenario=\S+ //;

    # what the server logged: statuses and close codes
    my (%st, %cl);
    if (open(my $f, '<', "$d/access.log")) {
        while (<$f>) {
            my ($status) = /"status":(\d+)/;
            my ($close) = /"close":"(\d*)"/;
            next unless defined $status;
            $st{$status}++;
            $cl{$close}++ if defined $close && $close ne '';
        }
    }
    $r{srv} = join(' ', (map { "http_$_=$st{$_}" } sort keys %st),
                        (map { "close_$_=$cl{$_}" } sort keys %cl))
              || 'nothing logged';
    my @bad = grep { /\[(alert|crit|emerg)\]|exited on signal/ }
              split /\n/, slurp("$d/error.log");
    $r{alerts} = scalar @bad;
    $r{alert1} = $bad[0] // '';

    my @notes;
    for my $p (['base', $r{base}], ['attack', $r{under}]) {
        my $k = $p->[1];
        if (!%$k) {
            push @notes, "probe($p->[0]) no result";
            next;
        }
        push @notes, "probe($p->[0]) no delivery in the window"
            unless $k->{deliveries};
        push @notes, "probe($p->[0]) lost $k->{lost}" if $k->{lost};
        push @notes, "probe($p->[0]) unacked $k->{unacked}"
            if $k->{unacked};
        push @notes, sprintf("probe(%s) connect p99 %.1f s", $p->[0],
                             $k->{conn_p99_ms} / 1000)
            if ($k->{conn_p99_ms} // 0) > 1000;
        push @notes, "probe($p->[0]) failed conns $k->{failed}"
            if $k->{failed};
        push @notes, "probe($p->[0]) errors $k->{errors}"
            if ($k->{errors} // 'none') ne 'none';
        push @notes, "probe($p->[0]) closes $k->{closes}"
            if ($k->{closes} // 'none') ne 'none';
    }
    push @notes, 'WORKER PID CHANGED' if $r{restarted};
    push @notes, "$r{alerts} alert/crit lines" if $r{alerts};
    $r{notes} = join('; ', @notes) || '';
    return \%r;
}

sub row {
    my $r = shift;
    my ($b, $u) = ($r->{base}, $r->{under});
    return (
        $r->{name},
        ms($b->{lat_p50_us}) . ' / ' . ms($b->{lat_p99_us}),
        ms($u->{lat_p50_us}) . ' / ' . ms($u->{lat_p99_us}),
        ratio($b->{lat_p99_us}, $u->{lat_p99_us}),
        ms($b->{ack_p99_us}) . ' / ' . ms($u->{ack_p99_us}),
        ratio($b->{ack_p99_us}, $u->{ack_p99_us}),
        join(' / ', fig($r->{cpu0}), fig($r->{cpu_peak}), fig($r->{cpu1})),
        join(' / ', fig($r->{bcpu0}), fig($r->{bcpu_peak})),
        join(' / ', map { fig(defined $_ ? $_ / 1024 : undef, '%.0f') }
                    $r->{rss0}, $r->{rss_peak}, $r->{rss1}),
        join(' / ', fig($r->{fds0}), fig($r->{fds_peak}), fig($r->{fds1})),
    );
}

my @head = ('scenario', 'deliv p50/p99 idle', 'deliv p50/p99 attack',
            'p99 x', 'ack p99 idle/attack', 'ack x',
            'CPU% before/peak/after', 'Redis+PG CPU% before/peak',
            'RSS MB before/peak/after',
            'fds before/peak/after');

my @rows = grep { defined } map { scenario($_) } @sc;

if ($mode eq 'one') {
    for my $r (@rows) {
        my @v = row($r);
        for my $i (1 .. $#head) {
            printf "  %-26s %s\n", $head[$i], $v[$i];
        }
        print "  attacker                   $r->{attack}\n";
        print "  server log                 $r->{srv}\n";
        print "  notes                      $r->{notes}\n" if $r->{notes};
        print "  first alert                $r->{alert1}\n" if $r->{alert1};
    }
    exit 0;
}

if ($mode eq 'markdown') {
    print '| ', join(' | ', @head, 'notes'), " |\n";
    print '|', join('|', map { '---' } @head, 'notes'), "|\n";
    for my $r (@rows) {
        print '| ', join(' | ', row($r), $r->{notes}), " |\n";
    }
    print "\nWhat each attack sent and got back (attacker's counts; the "
        . "server's access log for the same time):\n\n";
    for my $r (@rows) {
        print "- `$r->{name}`: attacker `$r->{attack}`; server log "
            . "`$r->{srv}`\n";
    }
    exit 0;
}

my @w = map { length } @head;
my @cells = map { [row($_)] } @rows;
for my $c (@cells) {
    for my $i (0 .. $#$c) {
        $w[$i] = length $c->[$i] if length $c->[$i] > $w[$i];
    }
}
my $fmt = join('  ', map { "%-${_}s" } @w) . "\n";
print "latencies in ms (probe: send -> delivery, send -> ack); CPU in % "
    . "of one core; CPU, RSS and fds\nsummed over the nginx workers; Redis+PG: "
    . "Redis and PostgreSQL with its backends\n\n";
printf $fmt, @head;
printf $fmt, @$_ for @cells;
print "\n";
for my $r (@rows) {
    print "$r->{name}\n  attacker   $r->{attack}\n  server log $r->{srv}\n";
    print "  notes      $r->{notes}\n" if $r->{notes};
    print "  alert      $r->{alert1}\n" if $r->{alert1};
}
