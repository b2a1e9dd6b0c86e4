package ChatTest::Backends;

# The PostgreSQL and Redis the tests run against: the shared pair of a
# `make test` run (t/lib/backends.sh; CHAT_TEST_DIR names its directory,
# DIR/env has the ports), a private pair when CHAT_TEST_DIR is not set, and
# the tests' own servers (ChatTest::Redis, ChatTest::PG), all stopped at
# the end by stop_own.

use strict;
use warnings;

use Exporter qw(import);

use ChatTest::Env qw($BACKENDS_SH tmpdir free_port sh command_line);

our @EXPORT_OK = qw(backends psql psql_output pg_conninfo own stop_own
                    launch_server);

my %BACKENDS;       # pg_port, redis_port, conninfo
my $OWN_BACKENDS;   # dir when this process started the shared ones itself
my @OWN;            # own redis / pg objects

sub pg_conninfo { "host=127.0.0.1 port=$_[0] dbname=chat user=chat" }

sub backends {
    return \%BACKENDS if %BACKENDS;
    my $dir = $ENV{CHAT_TEST_DIR};
    if (!$dir) {
        $dir = tmpdir() . '/backends';
        mkdir $dir;
        sh($BACKENDS_SH, 'start', $dir);
        $OWN_BACKENDS = $dir;
    }
    open my $f, '<', "$dir/env" or die "no $dir/env: start the backends "
        . "with t/lib/backends.sh start $dir\n";
    while (<$f>) {
        next unless /^(\w+)=(.*)$/;
        my ($k, $v) = ($1, $2);
        $v =~ s/^'(.*)'$/$1/;
        $BACKENDS{$k} = $v;
    }
    close $f;
    $BACKENDS{pg_port} = $BACKENDS{CHAT_PG_PORT};
    $BACKENDS{redis_port} = $BACKENDS{CHAT_REDIS_PORT};
    $BACKENDS{conninfo} = $BACKENDS{CHAT_PG_CONNINFO}
        || pg_conninfo($BACKENDS{pg_port});
    $BACKENDS{redis} = "127.0.0.1:$BACKENDS{redis_port}";
    return \%BACKENDS;
}

# a server a test started itself, to stop at the end
sub own { push @OWN, @_ }

# launch_server($class, $kind, $port, $init): a test's own server of
# $class in tmpdir/KIND-PORT (port default: a free one), set up by $init
sub launch_server {
    my ($class, $kind, $port, $init) = @_;
    $port //= free_port();
    my $dir = tmpdir() . "/$kind-$port";
    mkdir $dir;
    my $s = bless { port => $port, dir => $dir }, $class;
    $init->($s);
    own($s);
    return $s;
}

sub stop_own {
    $_->stop for reverse @OWN;
    @OWN = ();
    if ($OWN_BACKENDS) {
        system($BACKENDS_SH, 'stop', $OWN_BACKENDS);
        $OWN_BACKENDS = undef;
    }
}

# psql_output($conninfo, $sql, @psql_options): what psql printed (both
# streams), $? as psql left it
sub psql_output {
    my ($conninfo, $sql, @opt) = @_;
    return `psql @{[command_line($conninfo, '-qtAX', @opt, '-c', $sql)]} 2>&1`;
}

# psql($conninfo, $sql): runs $sql (ON_ERROR_STOP), returns its unaligned
# tuples-only output without the last newline; dies when psql fails.
sub psql {
    my ($conninfo, $sql) = @_;
    my $out = psql_output($conninfo, $sql, '-v', 'ON_ERROR_STOP=1');
    die "psql failed: $out\n" if $?;
    chomp $out;
    return $out;
}

1;
