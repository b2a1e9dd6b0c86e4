# chatctl migrate and scripts/chat-migrate agree: the same schema (pg_dump)
# from an empty database and from one at version 5; a second run applies
# nothing; two runs at once apply each migration once (advisory lock); a
# failing migration is rolled back whole and exits 7; --dry-run changes
# nothing; no server: exit 2.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Copy qw(copy);
use File::Temp qw(tempdir);
use Test::More;
use ChatTest;
use ChatTest::Backends;
use ChatTest::Ctl qw(ctl ctl_bg ctl_bin);
use ChatTest::Env qw(tmpdir command_line);

plan skip_all => 'build/chatctl is not built' unless -x ctl_bin();

my $root = repo_root();
my @files = map { (split m{/}, $_)[-1] }
    glob "$root/sql/[0-9][0-9][0-9]_*.sql";
my $last = 0 + ($files[-1] =~ /^(\d+)/)[0];

sub schema {
    my ($conninfo) = @_;
    my $dump = `@{[command_line('pg_dump', '-s', '-O', $conninfo)]} 2>&1`;
    die "pg_dump: $dump" if $?;
    # random keys of pg_dump's \restrict lines differ in every dump
    $dump =~ s/^\\(un)?restrict .*$//mg;
    return $dump;
}

sub versions {
    psql(shift, 'select string_agg(version::text, \',\' order by version) '
              . 'from chat_schema_version');
}

sub applied { [map { /applied (\S+)/ ? $1 : () } split /\n/, shift] }

# ---- from an empty database
my $a = ChatTest::Backends::scratch_db('ctl_mig_a');
my $b = ChatTest::Backends::scratch_db('ctl_mig_b');
my $r = ctl(undef, 'migrate', $a);
is $r->{rc}, 0, 'chatctl migrate: exit 0' or diag $r->{err};
is_deeply applied($r->{out}), \@files, 'applied every migration, in order';
my $out = `@{[command_line("$root/scripts/chat-migrate", $b)]} 2>&1`;
is $?, 0, 'scripts/chat-migrate: exit 0';
is_deeply applied($out), \@files, 'the same list';
is versions($a), join(',', 1 .. $last), "versions 1 to $last recorded";
is versions($a), versions($b), 'the same versions';
my $schema = schema($a);
like $schema, qr/CREATE TABLE public\.messages/, 'the schema is there';
ok $schema eq schema($b), 'pg_dump -s of both is the same';

# ---- again: nothing to do
$r = ctl(undef, 'migrate', $a);
is $r->{rc}, 0, 'a second run: exit 0';
is $r->{out}, '', 'applies nothing';

# ---- from version 5
my $c = ChatTest::Backends::scratch_db('ctl_mig_c');
ChatTest::Backends::migrate($c, 1, 5);
$r = ctl(undef, 'migrate', '--dry-run', $c);
is_deeply [map { /would apply (\S+)/ ? $1 : () } @{ $r->{lines} }],
    [@files[5 .. $#files]], '--dry-run lists 006 and later';
is versions($c), '1,2,3,4,5', 'and changes nothing';
$r = ctl(undef, 'migrate', $c);
is_deeply applied($r->{out}), [@files[5 .. $#files]],
    'a database at version 5: 006 and later applied';
ok schema($c) eq $schema, 'the same schema as from scratch';

# ---- two runs at once: the lock serializes them
my $d = ChatTest::Backends::scratch_db('ctl_mig_d');
my @bg = map { ctl_bg(undef, 'migrate', $d) } 1 .. 2;
is_deeply [map { $_->wait_exit(60) } @bg], [0, 0], 'both exit 0'
    or diag map { $_->err } @bg;
my @both = map { @{ applied($_->out) } } @bg;
is_deeply [sort @both], \@files, 'each migration applied once, by either';
is versions($d), join(',', 1 .. $last), 'each version recorded once';

# ---- a failing migration is rolled back whole
my $dir = tempdir('sql-XXXXXX', DIR => tmpdir(), CLEANUP => 1);
copy("$root/sql/$_", "$dir/$_") or die $! for @files;
my $bad = sprintf '%03d_bad.sql', $last + 1;
open my $f, '>', "$dir/$bad" or die $!;
print $f "create table ctl_half_done (x int);\nselect no_such_function();\n";
close $f;
$r = ctl(undef, 'migrate', '--sql-dir', $dir, $a);
is $r->{rc}, 7, 'a failing migration: exit 7';
like $r->{err}, qr/^chatctl: internal: \Q$bad\E: .*no_such_function/m,
    'says which file and why';
is psql($a, "select count(*) from pg_tables where tablename = "
            . "'ctl_half_done'"), 0, 'nothing of it remains';
is versions($a), join(',', 1 .. $last), 'the version did not move';

# ---- no server, bad arguments
$r = ctl(undef, 'migrate', 'host=127.0.0.1 port=' . free_port()
                           . ' dbname=x user=x connect_timeout=5');
is $r->{rc}, 2, 'no server: exit 2';
like $r->{err}, qr/^chatctl: unavailable: /m, 'chatctl: unavailable: ...';
is ctl(undef, 'migrate')->{rc}, 1, 'no CONNINFO: exit 1';

done_testing;
