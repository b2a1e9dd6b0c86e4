package ChatTest::PG;

# A test's own PostgreSQL (fresh cluster, migrated): ->stop, ->start,
# ->port, ->conninfo, ->running, ->psql

use strict;
use warnings;

use ChatTest::Backends qw(launch_server pg_conninfo psql_output);
use ChatTest::Env qw($BACKENDS_SH port_open sh);

# a fresh cluster, migrated
sub launch {
    launch_server($_[0], 'pg', $_[1], sub {
        my $p = shift;
        chmod 0755, $p->{dir};
        sh($BACKENDS_SH, 'pg-init', $p->{dir}, $p->{port});
        $p->{up} = 1;
    });
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
