package ChatTest::PG;

# A test's own PostgreSQL (fresh cluster, migrated): ->stop, ->start,
# ->port, ->conninfo, ->running, ->psql

use strict;
use warnings;

use ChatTest::Backends qw(own pg_conninfo psql_output);
use ChatTest::Env qw($BACKENDS_SH tmpdir free_port port_open sh);

sub launch {
    my ($class, $port) = @_;
    $port //= free_port();
    my $dir = tmpdir() . "/pg-$port";
    mkdir $dir;
    chmod 0755, $dir;
    sh($BACKENDS_SH, 'pg-init', $dir, $port);
    my $p = bless { port => $port, dir => $dir, up => 1 }, $class;
    own($p);
    return $p;
}

sub port     { $_[0]{port} }
sub conninfo { pg_conninfo($_[0]{port}) }
sub start {
    my $p = shift;
    sh($BACKENDS_SH, 'pg-start', $p->{dir});
    $p->{up} = 1;
    return $p;
}
# ->stop('immediate'): a shutdown mode of pg_ctl (default fast)
sub stop {
    my ($p, $mode) = @_;
    sh($BACKENDS_SH, 'pg-stop', $p->{dir}, $mode // 'fast');
    $p->{up} = 0;
    return $p;
}
sub running { port_open($_[0]{port}) }

# ->psql($sql): psql's output, errors included; never dies
sub psql { psql_output($_[0]->conninfo, $_[1]) }

1;
