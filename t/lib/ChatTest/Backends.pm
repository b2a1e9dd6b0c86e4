package ChatTest::Backends;

# The PostgreSQL and Redis the tests run against: the shared pair of a
# `make test` run (t/lib/backends.sh; CHAT_TEST_DIR names its directory,
# DIR/env has the ports), a private pair when CHAT_TEST_DIR is not set, and
# the tests' own servers (ChatTest::Redis, ChatTest::PG), all stopped at
# the end by stop_own.

use strict;
use warnings;

use Exporter qw(import);
use IPC::Open2 ();

use ChatTest::Env qw($ROOT $BACKENDS_SH tmpdir free_port sh command_line);

our @EXPORT_OK = qw(backends psql psql_output row_lock pg_conninfo own stop_own
                    latest_schema
                    launch_server scratch_db migrate);

my %BACKENDS;       # pg_port, redis_port, conninfo
my $OWN_BACKENDS;   # dir when this process started the shared ones itself
my @OWN;            # own redis / pg objects
my @DBS;            # scratch databases: [admin conninfo, name]

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
    for my $d (@DBS) {
        eval { psql($d->[0], "drop database if exists $d->[1]") };
        Test::More::diag($@) if $@;
    }
    @DBS = ();
    $_->stop for reverse @OWN;
    @OWN = ();
    if ($OWN_BACKENDS) {
        system($BACKENDS_SH, 'stop', $OWN_BACKENDS);
        $OWN_BACKENDS = undef;
    }
}

# scratch_db($prefix): a database of its own (owner chat) on the shared
# PostgreSQL, empty, dropped at the end; returns its conninfo
sub scratch_db {
    my ($prefix) = @_;
    my $b = backends();
    my $db = "${prefix}_$$";
    my $admin = "host=127.0.0.1 port=$b->{pg_port} dbname=postgres "
              . "user=postgres";
    psql($admin, "drop database if exists $db");
    psql($admin, "create database $db owner chat");
    push @DBS, [$admin, $db];
    return "host=127.0.0.1 port=$b->{pg_port} dbname=$db user=chat";
}

# latest_schema(): the version of the newest migration in sql/
sub latest_schema {
    my ($last) = sort { $b <=> $a }
                 map { m{/(\d{3})_[^/]*\.sql$} ? $1 + 0 : () }
                 glob("$ROOT/sql/*.sql");
    return $last;
}

# migrate($conninfo, $from, $to): applies sql/00$from_* .. sql/00$to_*,
# each in one transaction; dies with psql's output when one fails
sub migrate {
    my ($conninfo, $from, $to) = @_;
    for my $file (map { glob(sprintf("%s/sql/%03d_*.sql", $ROOT, $_)) } $from .. $to) {
        my $cmd = command_line('psql', $conninfo, '-qX', '-v',
                               'ON_ERROR_STOP=1', '--single-transaction',
                               '-f', $file);
        my $out = `$cmd 2>&1`;
        die "$file: $out" if $?;
    }
}

# psql_output($conninfo, $sql, @psql_options): what psql printed (both
# streams), $? as psql left it
sub psql_output {
    my ($conninfo, $sql, @opt) = @_;
    return `psql @{[command_line($conninfo, '-qtAX', @opt, '-c', $sql)]} 2>&1`;
}

# row_lock($conninfo, $where): a psql session that holds the rows of
# "select 1 from $where for update" in an open transaction; returns a sub
# that commits it and ends the session
sub row_lock {
    my ($conninfo, $where) = @_;
    my ($out, $in);
    my $pid = IPC::Open2::open2($out, $in, 'psql', $conninfo, '-qtAX')
        or die "psql: $!";
    print $in "begin;\nselect 1 from $where for update;\n\\echo locked\n";
    $in->flush;
    my $l = <$out>;
    $l = <$out> while defined $l && $l !~ /locked/;
    die "no lock on $where" unless defined $l;
    return sub {
        print $in "commit;\n\\q\n";
        close $in;
        waitpid $pid, 0;
    };
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
