package ChatTest::Sanitize;

# make test-asan and make test-valgrind (README.md, "Sanitizers"): nginx
# runs through t/lib/sanitize/nginx (CHAT_NGINX), which writes each
# process's reports under CHAT_SANITIZE_DIR.  Loaded by ChatTest::Nginx
# when CHAT_SANITIZE is set: each nginx's stop is then a test that fails
# when any of its processes reported something, and at the end a test
# file whose nginx reported exits non-zero.  A process killed with -9
# writes no leak report: nothing is expected of it.

use strict;
use warnings;

use Test::More ();

my $DIR = $ENV{CHAT_SANITIZE_DIR};
my $PID = $$;
my %CHECKED;        # the nginx directories whose reports were checked
my @STARTED;        # every nginx started

# the name t/lib/sanitize/nginx gives an nginx's files: its -p directory
sub tag {
    my $p = shift;
    $p =~ s{/+$}{};
    $p =~ s{^/+}{};
    $p =~ s{/}{_}g;
    return $p;
}

# true when a file holds a report (valgrind writes a file per process
# whatever happens: its errors count, the rest is a summary)
sub is_report {
    my $file = shift;
    open my $f, '<', $file or return 0;
    local $/;
    my $t = <$f> // '';
    close $f;
    return length $t if $file !~ /\.valgrind\.\d+$/;
    return $t =~ /ERROR SUMMARY: [1-9]/
        || grep { $t =~ /^==\d+== $_/m } 'Invalid ', 'Conditional jump',
               'Use of uninit', 'Syscall param', 'Mismatched',
               'Source and destination', '.*definitely lost in loss';
}

# the report files of the nginx run in $dir.  With ASan, UBSan ignores
# its log_path and writes to stderr: to the error log, from which its
# reports are copied to a file of their own.
sub reports {
    my $dir = shift;
    my $tag = tag($dir);
    my $out = ($DIR // $dir) . "/$tag.ubsan-log";
    if (!-e $out && open my $f, '<', "$dir/error.log") {
        my ($in, @l) = (0);
        while (my $line = <$f>) {
            $in = $line =~ /runtime error:/ ? 1 : $in && $line =~ /^\s/;
            push @l, $line if $in;
        }
        close $f;
        if (@l) {
            open my $o, '>', $out or die "$out: $!";
            print $o @l;
            close $o;
        }
    }
    return grep { is_report($_) } glob(($DIR // $dir) . "/$tag.*");
}

sub show {
    my @files = @_;
    for my $file (@files) {
        open my $f, '<', $file or next;
        my @l = <$f>;
        close $f;
        splice @l, 60 if @l > 60;
        Test::More::diag("$file:\n" . join '', @l);
    }
}

# every report under $dir, shown; the number of files
sub scan {
    my $dir = shift;
    my @r = grep { is_report($_) } glob "$dir/*";
    show(@r);
    return scalar @r;
}

if (defined &ChatTest::Nginx::stop) {
    no warnings 'redefine';
    my $start = \&ChatTest::Nginx::start;
    my $stop = \&ChatTest::Nginx::stop;
    *ChatTest::Nginx::start = sub {
        my $n = $_[0];
        push @STARTED, $n unless grep { $_ == $n } @STARTED;
        return $start->(@_);
    };
    *ChatTest::Nginx::stop = sub {
        my ($n, %o) = @_;
        my $ok = $stop->(@_);
        return $ok if $o{quiet};
        my @r = reports($n->dir);
        $CHECKED{$n->dir} = 1;
        Test::More::ok(!@r, 'nginx on port ' . $n->port
                            . ': no sanitizer report') or show(@r);
        return $ok;
    };
}

# after ChatTest's END has stopped every nginx (this END block is compiled
# first, so runs after it): the reports of those stopped quietly
END {
    if ($$ == $PID) {
        my @r = map { reports($_->dir) }
                grep { !$CHECKED{$_->dir} } @STARTED;
        if (@r) {
            Test::More::diag('sanitizer reports at the end:');
            show(@r);
            $? ||= 1;
        }
    }
}

1;
