#!/usr/bin/perl
# The chaos suite (make chaos): two nginx hosts of two workers on one Redis
# and one PostgreSQL, senders retrying with client_msg_id, receivers
# rejoining with since_rev, a moderator, while faults are injected; after
# each scenario every figure that must be 0 is checked against PostgreSQL.
# See README.md, "Chaos".
#
#   chaos/chaos.pl [scenario ...]     (default: all of them, in order)
#
# Environment:
#   CHAOS_SECONDS       seconds of faults per scenario (default 20)
#   CHAOS_PG_PORT, CHAOS_REDIS_PORT   ports of its own backends (default:
#                       free ones)
#   CHAOS_NGINX_PORTS   "P1 P2": the two hosts' ports (default: free ones)
#   CHAT_MODULE         the module (default build/ngx_chat_module.so)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../t/lib";

use List::Util qw(sum0);
use Mojo::IOLoop;
use Time::HiRes qw(time);

use ChatTest;
use ChatTest::Wait qw(run_loop);
use ChatTest::Env qw(tmpdir);
use Chaos::Actors;
use Chaos::Check;
use Chaos::Faults;

my @SCENARIOS = (
    [none   => 'baseline, no fault'],
    [kill9  => 'kill -9 of random workers, repeatedly'],
    [reload => 'nginx reload, repeatedly'],
    [redis  => 'Redis restarts'],
    [pg     => 'PostgreSQL stop -m immediate, then start'],
    [all    => 'all of these at once, receivers hopping too'],
    [hop    => 'receivers hopping between hosts while Redis is down'],
    [freeze => 'Redis connected but not answering for 5.5-7.5 s, repeatedly'],
);
my %KNOWN = map { $_->[0] => $_->[1] } @SCENARIOS;
my @run = @ARGV ? @ARGV : map { $_->[0] } @SCENARIOS;
for (@run) { die "unknown scenario $_ (" . join(' ', sort keys %KNOWN)
                 . ")\n" unless $KNOWN{$_} }

my $SECONDS = $ENV{CHAOS_SECONDS} // 20;
my $t0 = time;
$| = 1;

my $redis = start_redis($ENV{CHAOS_REDIS_PORT});
my $pg = start_pg($ENV{CHAOS_PG_PORT});
# the harness's shared backends are these two
{
    my $dir = tmpdir() . '/backends';
    mkdir $dir;
    open my $env, '>', "$dir/env" or die "$dir/env: $!";
    printf $env "CHAT_PG_PORT=%d\nCHAT_REDIS_PORT=%d\nCHAT_PG_CONNINFO='%s'\n",
        $pg->port, $redis->port, $pg->conninfo;
    close $env;
    $ENV{CHAT_TEST_DIR} = $dir;
}
my @ports = split ' ', $ENV{CHAOS_NGINX_PORTS} // '';
my $loc = 'chat_request_rate off; chat_join_replay_max 100000;';
my @hosts = map {
    start_nginx(workers => 2, redis => $redis->addr, pg => $pg->conninfo,
                loc => $loc, api_loc => 'chat_request_rate off;',
                $ports[$_] ? (port => $ports[$_]) : ())
} 0 .. 1;
printf "chaos: hosts on ports %s, Redis %d, PostgreSQL %d; %d s per "
    . "scenario\n", join(' ', map { $_->port } @hosts), $redis->port,
    $pg->port, $SECONDS;

my $failed = 0;
my @summary;
for my $name (@run) {
    my ($f, $notes, $info) = scenario($name);
    my $bad = report($name, $f, $notes, $info);
    push @summary, [$name, $f, $bad];
    $failed ||= $bad;
}
$_->stop(quiet => 1) for @hosts;
summary(@summary);
printf "chaos: %s in %d s\n", $failed ? 'FAILED' : 'every figure that must '
    . 'be 0 is 0', time - $t0;
exit($failed ? 1 : 0);

sub scenario {
    my $name = shift;
    my $tag = sprintf '%s%d', $name, $$ % 10000;
    my @rooms = map { "chaos-$tag-$_" } 1 .. 3;
    my $log = {};
    my %common = (hosts => \@hosts, rooms => \@rooms, log => $log,
                  tag => $tag);
    wait_healthy(30) or die "$name: the hosts are not healthy\n";

    # the moderator owns the rooms; the bystanders exist
    for my $room (@rooms) {
        my $r = api($hosts[0], 'POST', '/rooms', user => 'mod',
                    json => { room => $room });
        die "$name: create $room: $r->{status}\n" unless $r->{status} == 201;
    }
    my @recv = map { Chaos::Actors->new(%common, kind => 'receiver',
                                         user => "recv$_") } 1 .. 4;
    $_->start for @recv;
    run_loop(sub { !grep { !$_->joined_all } @recv }, 20)
        or die "$name: the receivers did not join\n";
    my @act = (
        (map { Chaos::Actors->new(%common, kind => 'sender', window => 3,
                                   user => "send$_") } 1 .. 4),
        Chaos::Actors->new(%common, kind => 'rest', user => 'rest1',
                           pace => 0.15),
        Chaos::Actors->new(%common, kind => 'moderator', user => 'mod',
                           pace => 0.3),
    );
    $_->start for @act;

    my $file = tmpdir() . "/faults-$name";
    my $child = Chaos::Faults::start($name, $SECONDS,
        { hosts => \@hosts, redis => $redis, pg => $pg, file => $file });
    my $end = time + $SECONDS;
    my $hop = $name eq 'hop' || $name eq 'all'
        ? Mojo::IOLoop->recurring(0.5 => sub { $recv[rand @recv]->hop })
        : undef;
    run_loop(sub {
        return time >= $end unless $child;
        waitpid($child, POSIX::WNOHANG()) == $child;
    }, $SECONDS + 120);
    Mojo::IOLoop->remove($hop) if $hop;
    my $faults = Chaos::Faults::counts($file);
    my $t_faults = time;

    # recovery: the hosts answer, every pending operation is answered
    wait_healthy(60) or print "$name: a host is not healthy 60 s after "
        . "the faults\n";
    $_->stop_new for @act;
    my $drained = run_loop(sub { !grep { !$_->idle } @act }, 60);
    my $t_drain = time - $t_faults;
    # live: without rejoining, every receiver reaches the rooms' last rev
    # (a gap is filled, a worker delivers again after the faults)
    my $last = Chaos::Check::storage($pg->conninfo, \@rooms)->{rooms};
    my $behind = sub {
        grep { my $r = $_; grep { $r->{rooms_state}{$_}{last} < $last->{$_} }
                                keys %$last } @recv;
    };
    run_loop(sub { !$behind->() }, 15);
    my @behind = $behind->();
    my $t_live = time - $t_faults;
    # catch-up: each receiver rejoins with since_rev
    for my $r (@recv) {
        $r->{host} = ($r->{host} + 1) % @hosts;
        $r->hop;
    }
    my $caught = run_loop(sub { !grep { !$_->joined_all } @recv }, 60);
    $_->shutdown for @recv, @act;
    run_loop(sub { 0 }, 0.2);

    my $st = Chaos::Check::storage($pg->conninfo, \@rooms);
    my ($f, $notes) = Chaos::Check::figures($log, \@recv, $st);
    push @$notes, "the pending operations were not all answered in 60 s"
        unless $drained;
    push @$notes, "the receivers could not rejoin within 60 s"
        unless $caught;
    push @$notes, map { "$_->{user} did not reach the last rev live in "
                        . '15 s' } @behind;
    $f->{behind} = @behind;
    push @$notes, "faults: $faults->{error}" if $faults->{error};
    $f->{fault_errors} = $faults->{error} ? 1 : 0;
    my @crash = map { $_->crashes } @hosts;
    my @signalled = grep { !/signal 9\b/ } @crash;
    push @$notes, @signalled;
    $f->{crashes} = @signalled;
    $f->{stuck} = ($drained ? 0 : 1) + ($caught ? 0 : 1)
        + sum0(map { $_->{stalls} } @recv, @act);
    push @$notes, @{ $log->{stall_notes} // [] };
    push @$notes, @{ $log->{ack_conflicts} // [] };
    push @$notes, map { "refused: $_" } @{ $log->{refused} // [] };
    $f->{ack_conflicts} = @{ $log->{ack_conflicts} // [] };
    my %info = (faults => $faults, log => $log, drain => $t_drain,
                live => $t_live,
                rooms => $st->{rooms},
                reconnects => sum0(map { $_->{reconnects} } @recv, @act));
    return ($f, $notes, \%info);
}

# one line per scenario; the receivers' figures summed over the four
# (delivered: each receiver's)
sub summary {
    my @rows = @_;
    my @k = qw(duplicated reordered gaps unexpected final truncated);
    print "\nscenario  attempted  acked  lost  dup-stored  changes-lost"
        . "  delivered  dup  reord  gaps  unexp  final  trunc  behind"
        . "  verdict\n";
    for my $row (@rows) {
        my ($name, $f, $bad) = @$row;
        my @r = values %{ $f->{receivers} };
        my %sum;
        for my $t (@r) { $sum{$_} += $t->{$_} for @k }
        my %d = map { $_->{delivered} => 1 } @r;
        printf "%-8s %10d %6d %5d %11d %13d %10s %4d %6d %5d %6d %6d %6d"
            . " %7d  %s\n",
            $name, @$f{qw(attempted acknowledged lost dup_storage
                          changes_lost)},
            join('/', sort { $a <=> $b } keys %d),
            @sum{@k}, $f->{behind}, $bad ? 'FAIL' : 'ok';
    }
}

sub wait_healthy {
    my $timeout = shift;
    return run_loop(sub {
        !grep { (http_get($_->api_url . '/health', timeout => 2)->{status}
                 // 0) != 200 } @hosts;
    }, $timeout);
}

# prints the scenario's table; true when a figure that must be 0 is not
sub report {
    my ($name, $f, $notes, $i) = @_;
    my $log = $i->{log};
    my $fa = $i->{faults};
    my $what = join ', ', map { "$_ $fa->{$_}" } grep { $_ ne 'error' }
        sort keys %$fa;
    printf "\n== %s: %s (%d s%s)\n", $name, $KNOWN{$name}, $SECONDS,
        $what ? "; $what" : '';
    my $rev = join ' ', map { $i->{rooms}{$_} } sort keys %{ $i->{rooms} };
    my $ed = $log->{edits} // {};
    my $de = $log->{deletes} // {};
    my $mo = $log->{moderation} // {};
    printf "sends: attempted %d, acknowledged %d, lost %d, duplicated in "
        . "storage %d (stored unacknowledged %d; acknowledged again, the "
        . "same, %d)\n",
        @$f{qw(attempted acknowledged lost dup_storage stored_unacked)},
        $log->{acked_again} // 0;
    printf "edits %d/%d, deletes %d/%d, moderation %d/%d "
        . "(acknowledged/attempted), edits and deletes lost %d; rooms' "
        . "final rev %s\n",
        $ed->{acknowledged} // 0, $ed->{attempted} // 0,
        $de->{acknowledged} // 0, $de->{attempted} // 0,
        $mo->{acknowledged} // 0, $mo->{attempted} // 0,
        $f->{changes_lost}, $rev;
    printf "sends out of order %d, storage gaps %d, worker crashes %d, "
        . "stalls %d, receivers behind %d, reconnects %d, drained in %.1f s, "
        . "live receivers at the last rev in %.1f s\n",
        $f->{out_of_order}, $f->{storage_gaps}, $f->{crashes},
        $f->{stuck}, $f->{behind}, $i->{reconnects}, $i->{drain},
        $i->{live};
    my $retries = $log->{retries} // {};
    printf "retries: %s\n", join(', ', map { "$_ $retries->{$_}" }
                                       sort keys %$retries) || 'none';
    printf "%-8s %9s %10s %9s %14s %10s %11s %9s\n", 'receiver',
        'delivered', 'duplicated', 'reordered', 'unfilled gaps',
        'unexpected', 'final state', 'truncated';
    my $bad = $f->{lost} + $f->{dup_storage} + $f->{storage_gaps}
        + $f->{out_of_order} + $f->{changes_lost} + $f->{behind}
        + $f->{fault_errors}
        + $f->{crashes} + $f->{stuck} + $f->{ack_conflicts};
    for my $who (sort keys %{ $f->{receivers} }) {
        my $t = $f->{receivers}{$who};
        printf "%-8s %9d %10d %9d %14d %10d %11d %9d\n", $who,
            @$t{qw(delivered duplicated reordered gaps unexpected final
                   truncated)};
        $bad += $t->{$_} for qw(duplicated reordered gaps unexpected final
                                truncated);
    }
    if ($bad || $ENV{CHAOS_VERBOSE}) {
        my @n = @$notes;
        splice @n, 20 if @n > 20;
        print "  $_\n" for @n;
    }
    print $bad ? "FAIL: $name\n" : "ok: $name\n";
    return $bad;
}
