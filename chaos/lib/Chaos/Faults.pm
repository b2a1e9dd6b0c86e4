package Chaos::Faults;

# The faults of a scenario, injected by a child process (stopping and
# starting PostgreSQL or Redis blocks; the clients' event loop must not):
#
#   kill9    kill -9 of a random worker of a random host
#   reload   HUP to a random host's master
#   redis    Redis stopped, started again
#   pg       PostgreSQL stopped with -m immediate, started again
#   all      the four at once, each at its own pace
#   hop      Redis down for long stretches (receivers hop meanwhile)
#
# The child counts what it did in a file; at its end both backends run.

use strict;
use warnings;

use POSIX ();
use Time::HiRes qw(time sleep);

use ChatTest::Env qw(pid_alive);

my %PACE = (kill9 => 0.7, reload => 2, redis => 4, pg => 5, hop => 0,
            freeze => 2);

# Chaos::Faults::start($name, $seconds, $ctx): the child's pid (undef for
# the baseline); $ctx has hosts, redis, pg and file (the counts)
sub start {
    my ($name, $seconds, $ctx) = @_;
    return undef if $name eq 'none';
    my $pid = fork // die "fork: $!";
    return $pid if $pid;
    my %n;
    if ($name eq 'all') {
        # each kind in a process of its own: they overlap
        my %kid;
        for my $f (qw(kill9 reload redis pg)) {
            my $file = "$ctx->{file}.$f";
            my $k = fork // die "fork: $!";
            if (!$k) {
                # the one that waits for them all recovers the backends:
                # not one of them while another has PostgreSQL stopped
                run($f, $seconds, { %$ctx, file => $file }, 1);
            }
            $kid{$k} = $file;
        }
        for my $k (keys %kid) {
            waitpid $k, 0;
            my $c = counts($kid{$k});
            $n{$_} = $c->{$_} for keys %$c;
        }
        recover($ctx);
        finish($ctx->{file}, \%n);
    }
    run($name, $seconds, $ctx);
}

# the child of one kind of fault: injects it until the time is up
sub run {
    my ($name, $seconds, $ctx, $no_recover) = @_;
    my %n;
    my $ok = eval {
        srand($$ ^ time);
        my $end = time + $seconds;
        while (time < $end) {
            $n{$name}++;
            inject($name, $ctx);
            sleep $PACE{$name} * (0.5 + rand);
        }
        1;
    };
    ($n{error} = $@) =~ s/\s*\n\s*/ | /g unless $ok;
    recover($ctx) unless $no_recover;
    finish($ctx->{file}, \%n);
}

sub finish {
    my ($file, $n) = @_;
    if (open my $out, '>', $file) {
        print $out map { "$_ $n->{$_}\n" } sort keys %$n;
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
    } elsif ($f eq 'freeze') {
        # connected, but no answer for longer than chat_redis_timeout (5 s)
        my $ms = int(5500 + rand 2000);
        system('redis-cli', '-h', '127.0.0.1', '-p', $c->{redis}->port,
               'client', 'pause', $ms, 'all') == 0
            or die "redis-cli client pause failed\n";
        sleep $ms / 1000 + 0.5;
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
