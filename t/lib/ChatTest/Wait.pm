package ChatTest::Wait;

# Waiting for a condition: by polling (processes, ports: no event to wait
# on) or by running the Mojo event loop (clients).

use strict;
use warnings;

use Exporter qw(import);
use Mojo::IOLoop;
use Time::HiRes qw(time sleep);

our @EXPORT_OK = qw(wait_until run_loop);

# Polls a condition.  Returns true when it held before the timeout.
sub wait_until {
    my ($cond, $timeout, $step) = @_;
    $timeout //= 10;
    $step //= 0.02;
    my $end = time + $timeout;
    while (1) {
        return 1 if $cond->();
        return 0 if time > $end;
        sleep $step;
    }
}

# Runs the Mojo event loop until $cond is true or $timeout seconds passed.
sub run_loop {
    my ($cond, $timeout) = @_;
    $timeout //= 5;
    $timeout = 0.001 if $timeout < 0.001;
    return 1 if $cond->();
    my $loop = Mojo::IOLoop->singleton;
    my ($expired, $met) = (0, 0);
    my $tid = $loop->timer($timeout => sub { $expired = 1 });
    until ($met) {
        $loop->one_tick;
        $met = $cond->() ? 1 : 0;
        last if $expired;
    }
    $loop->remove($tid);
    return $met;
}

1;
