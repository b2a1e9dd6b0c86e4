package Chaos::Faults;

# The faults of a scenario, injected by a child process (stopping and
# starting PostgreSQL or Redis blocks; the clients' event loop must not):
#
#   kill9    kill -9 of a random worker of a random host
#   reload   HUP to a random host's master
#   redis    Redis stopped, started again
#   pg       PostgreSQL stopped with -m immediate, started again
#   all      any of the four, at random, at a faster pace
#   hop      Redis down for long stretches (receivers hop meanwhile)
#
# The child counts what it did in a file; at its end both backends run.

use strict;
use warnings;

use POSIX ();
use Time::HiRes qw(time sleep);

use ChatTest::Env qw(pid_alive);

my %PACE = (kill9 => 0.7, reload => 2, redis => 4, pg => 5, all => 0.8,
            hop => 0);

# Chaos::Faults::start($name, $seconds, $ctx): the child's pid (undef for
# the baseline); $ctx has hosts, redis, pg and file (the counts)
sub start {
    my ($name, $seconds, $ctx) = @_;
    return undef if $name eq 'none';
    my $pid = fork // die "fork: $!";
    return $pid if $pid;
    my %n;
    my $ok = eval {
        srand($$ ^ time);
        my $end = time + $seconds;
        while (time < $end) {
            my $f = $name eq 'all'
                ? (qw(kill9 kill9 reload redis pg))[rand 5] : $name;
            $n{$f}++;
            inject($f, $ctx);
            sleep $PACE{$name} * (0.5 + rand);
        }
        1;
    };
    $n{error} = $@ unless $ok;
    recover($ctx);
    if (open my $out, '>', $ctx->{file}) {
        print $out map { "$_ $n{$_}\n" } sort keys %n;
        close $out;
    }
    POSIX::_exit(0);
}

sub inject {
    my ($f, $c) = @_;
    my @hosts = @{ $c->{hosts} };
    my $ng = $hosts[ rand @hosts ];
    if ($f eq 'kill9') {
        my @w = $ng->worker_pids;
        kill 'KILL', $w[ rand @w ] if @w;
    } elsif ($f eq 'reload') {
        kill 'HUP', $ng->pid;
    } elsif ($f eq 'redis') {
        $c->{redis}->stop;
        sleep 0.5 + rand 2;
        $c->{redis}->start;
    } elsif ($f eq 'pg') {
        $c->{pg}->stop('immediate');
        sleep 0.5 + rand 2.5;
        $c->{pg}->start;
    } elsif ($f eq 'hop') {
        $c->{redis}->stop;
        sleep 4 + rand 2;
        $c->{redis}->start;
        sleep 1 + rand 1;
    }
}

# both backends up again, whatever a fault left
sub recover {
    my $c = shift;
    eval { $c->{redis}->start } unless $c->{redis}->running;
    eval { $c->{pg}->start } unless $c->{pg}->running;
}

# the child's counts: { kill9 => N, ... }
sub counts {
    my $file = shift;
    my %n;
    open my $f, '<', $file or return {};
    while (<$f>) { $n{$1} = $2 if /^(\S+) (.*)$/ }
    close $f;
    return \%n;
}

1;
