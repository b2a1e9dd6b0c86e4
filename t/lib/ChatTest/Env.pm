package ChatTest::Env;

# Where things are and what the machine offers the harness: the paths and
# switches of a run, the temporary directory, shell commands, ports and
# processes.

use strict;
use warnings;

use Cwd qw(abs_path);
use Exporter qw(import);
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Socket::INET;

our @EXPORT_OK = qw(
    $ROOT $SELFTEST $NGINX $MODULE $BACKENDS_SH
    repo_root selftest world_enterable tmpdir keep_tmp free_port port_open
    pid_alive children_of sh quote command_line pid_rss_kb pid_fds
);

our $ROOT = abs_path(dirname(__FILE__) . '/../../..');
our $SELFTEST = $ENV{CHAT_HARNESS_SELFTEST} ? 1 : 0;
our $NGINX = $ENV{CHAT_NGINX} || '/usr/sbin/nginx';

# nginx reads NGINX as the sockets a binary upgrade hands over, and then
# does not daemonize: no nginx started from here may inherit it
delete $ENV{NGINX};
our $MODULE = $ENV{CHAT_MODULE} || "$ROOT/build/ngx_chat_module.so";
our $BACKENDS_SH = "$ROOT/t/lib/backends.sh";

$SIG{PIPE} = 'IGNORE';

my $TMP;            # per process temp dir, mode 0755 (postgres must enter)
my %USED_PORTS;

sub repo_root { $ROOT }
sub selftest  { $SELFTEST }

# true when any user may enter $dir (search permission on every component)
sub world_enterable {
    my $dir = abs_path(shift) // return 0;
    my $path = '';
    for my $part ('', grep { length } split m{/}, $dir) {
        $path .= "$part/";
        my @st = stat $path or return 0;
        return 0 unless $st[2] & 0001;
    }
    return 1;
}

sub tmpdir {
    return $TMP if $TMP;
    # a TMPDIR that only its owner may enter (under root's home) would
    # keep postgres and the nginx workers out: /tmp then
    my $base = File::Spec->tmpdir;
    $base = '/tmp' unless world_enterable($base);
    $TMP = tempdir('chattest-XXXXXX', DIR => $base, CLEANUP => !keep_tmp());
    chmod 0755, $TMP;
    return $TMP;
}

sub keep_tmp { $ENV{CHAT_TEST_KEEP} }

# A port for a server to listen on, below the kernel's ephemeral range
# (32768 and up): an outgoing connection can take an ephemeral port between
# this check and the server's bind, never one of these.  The range is
# CHAT_TEST_PORT_MIN-MAX (default 20000-31999): t/lib/run-suite gives each
# of its groups one of its own.
sub free_port {
    my $min = $ENV{CHAT_TEST_PORT_MIN} || 20000;
    my $max = $ENV{CHAT_TEST_PORT_MAX} || 31999;
    for (1 .. 200) {
        my $p = $min + int rand($max - $min + 1);
        next if $USED_PORTS{$p};
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
            LocalPort => $p, Listen => 1, ReuseAddr => 1, Proto => 'tcp')
            or next;
        close $s;
        $USED_PORTS{$p} = 1;
        return $p;
    }
    die "free_port: no free port";
}

sub port_open {
    my $port = shift;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
        Proto => 'tcp', Timeout => 1);
    return $s ? 1 : 0;
}

sub pid_alive {
    my $pid = shift;
    return 0 unless $pid && -r "/proc/$pid/stat";
    open my $f, '<', "/proc/$pid/stat" or return 0;
    my $st = <$f> // '';
    close $f;
    return 0 unless $st =~ /\)\s+(\S)/;
    return $1 ne 'Z';
}

# a process's resident memory in kB (-1 if it is gone), and how many
# descriptors it has open
sub pid_rss_kb {
    my $pid = shift;
    open my $f, '<', "/proc/$pid/status" or return -1;
    while (<$f>) { return $1 if /^VmRSS:\s+(\d+) kB/ }
    return -1;
}

sub pid_fds {
    my @fd = glob("/proc/$_[0]/fd/*");
    return scalar @fd;
}

sub children_of {
    my $pid = shift;
    my @kids;
    for my $line (`ps --ppid $pid -o pid=,stat= 2>/dev/null`) {
        my ($p, $stat) = $line =~ /^\s*(\d+)\s+(\S+)/ or next;
        push @kids, $p unless $stat =~ /^Z/;
    }
    return @kids;
}

# the shell line that runs @cmd with each word quoted
sub command_line { join ' ', map { quote($_) } @_ }

sub sh {
    my @cmd = @_;
    my $out = `@{[command_line(@cmd)]} 2>&1`;
    die "command failed: @cmd\n$out" if $?;
    return $out;
}

sub quote {
    my $s = shift;
    return $s if $s =~ m{^[A-Za-z0-9_./:=@,+-]+$};
    $s =~ s/'/'\\''/g;
    return "'$s'";
}

1;
