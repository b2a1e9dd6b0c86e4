package ChatTest::Cluster;

# A test's own Redis Cluster (Redis 7, t/lib/backends.sh cluster-start):
# primaries on CHAT_TEST_CLUSTER_PORT (default 26400) and the ports after
# it, each with its replicas after the primaries; stopped at the end.
#
#   my $c = ChatTest::Cluster->launch(primaries => 3, replicas => 1);
#   $c->seeds          "cluster 127.0.0.1:26400 ..." for chat_redis
#   $c->slot($key)     the slot Redis gives the key
#   $c->owner($slot)   the port of the primary serving the slot
#   $c->replica_of($port)   the port of a replica of that primary
#   $c->kill($port)    kill -9 of a node;  $c->start($port): it rejoins
#   $c->cli($port, @args)   redis-cli's answer, chomped

use strict;
use warnings;

use ChatTest::Backends qw(own);
use ChatTest::Env qw($BACKENDS_SH tmpdir sh);

sub launch {
    my ($class, %o) = @_;
    my $base = $ENV{CHAT_TEST_CLUSTER_PORT} || 26400;
    my $c = bless {
        base      => $base,
        primaries => $o{primaries} // 3,
        replicas  => $o{replicas} // 0,
        dir       => tmpdir() . "/cluster-$base",
    }, $class;
    mkdir $c->{dir};
    sh($BACKENDS_SH, 'cluster-start', $c->{dir}, $base, $c->{primaries},
       $c->{replicas});
    own($c);
    return $c;
}

sub ports {
    my $c = shift;
    my $n = $c->{primaries} * ($c->{replicas} + 1);
    return map { $c->{base} + $_ } 0 .. $n - 1;
}

sub seeds {
    my $c = shift;
    return join ' ', 'cluster',
        map { "127.0.0.1:$_" } (ports($c))[0 .. $c->{primaries} - 1];
}

sub cli {
    my ($c, $port, @args) = @_;
    open my $p, '-|', 'redis-cli', '-h', '127.0.0.1', '-p', $port, @args
        or die "redis-cli: $!";
    local $/;
    my $out = <$p> // '';
    close $p;
    $out =~ s/\s+\z//;
    return $out;
}

sub slot {
    my ($c, $key) = @_;
    return $c->cli($c->{base}, 'cluster', 'keyslot', $key) + 0;
}

# the primary serving slot, as the first node up sees it (CLUSTER NODES)
sub owner {
    my ($c, $slot) = @_;
    for my $port ($c->ports) {
        my $out = $c->cli($port, 'cluster', 'nodes');
        next unless length $out;
        for my $line (split /\n/, $out) {
            my @f = split ' ', $line;
            next unless @f > 8 && $f[2] =~ /master/ && $f[2] !~ /fail/;
            for my $r (@f[8 .. $#f]) {
                my ($lo, $hi) = $r =~ /^(\d+)(?:-(\d+))?$/ or next;
                $hi //= $lo;
                return (split /[:@]/, $f[1])[1]
                    if $slot >= $lo && $slot <= $hi;
            }
        }
        return undef;
    }
    return undef;
}

# the port of a replica of the primary on $port
sub replica_of {
    my ($c, $port) = @_;
    my $out = $c->cli($port, 'cluster', 'nodes');
    my ($id) = map { (split ' ')[0] } grep { /myself/ } split /\n/, $out;
    for (split /\n/, $out) {
        my @f = split ' ';
        return (split /[:@]/, $f[1])[1] if $f[2] =~ /slave/ && $f[3] eq $id;
    }
    return undef;
}

sub kill  { sh($BACKENDS_SH, 'cluster-node-kill', $_[0]{dir}, $_[1]) }
sub start { sh($BACKENDS_SH, 'cluster-node-start', $_[0]{dir}, $_[1]) }

# every node up answers cluster_state:ok
sub ok {
    my $c = shift;
    for my $port ($c->ports) {
        my $info = $c->cli($port, 'cluster', 'info');
        next unless length $info;
        return 0 unless $info =~ /cluster_state:ok/;
    }
    return 1;
}

sub stop { sh($BACKENDS_SH, 'cluster-stop', $_[0]{dir}) }

1;
