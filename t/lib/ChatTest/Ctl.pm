package ChatTest::Ctl;

# The chatctl binary driven by tests: a run to its end (exit code, stdout,
# stderr), or a process in the background with a pipe to its stdin and its
# output read as it comes.
#
#   ctl($nginx_or_url, user => "alice", roles => [...], jwt => $jwt,
#       stdin => 'text', env => {...}, timeout => 20, args...)
#       -> {rc, out, err, lines => [stdout lines]}
#   ctl_bg(same) -> a ChatTest::Ctl: ->lines, ->wait_lines($n, $pred, $t),
#       ->say('line'), ->close_stdin, ->wait_exit($t) (the exit code),
#       ->kill($sig), ->err
#
# Each run gets its own empty config file unless env sets CHATCTL_CONFIG,
# so that no config of the user running the tests is read.

use strict;
use warnings;

use Exporter qw(import);
use IO::Handle;
use Mojo::IOLoop;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time);

use ChatTest::Env qw($ROOT tmpdir pid_alive);
use ChatTest::Token qw(token);
use ChatTest::Wait qw(run_loop);

our @EXPORT_OK = qw(ctl ctl_bg ctl_bin ctl_wait);

my $N = 0;

sub ctl_bin { $ENV{CHATCTL} || "$ROOT/build/chatctl" }

# runs the Mojo loop (clients keep being served) until $cond holds
sub ctl_wait {
    my ($cond, $timeout) = @_;
    my $loop = Mojo::IOLoop->singleton;
    my $rid = $loop->recurring(0.02 => sub { });
    my $ok = run_loop($cond, $timeout // 10);
    $loop->remove($rid);
    return $ok;
}

sub _split_opts {
    my @a = @_;
    my $target = shift @a;
    my (%o, @args);
    while (@a) {
        my $k = shift @a;
        if (!ref $k && $k =~ /^(user|roles|jwt|stdin|env|timeout|name)$/
            && @a) {
            $o{$k} = shift @a;
        } else {
            push @args, $k, @a;
            last;
        }
    }
    return ($target, \%o, \@args);
}

sub _env {
    my ($target, $o) = @_;
    my %env = (
        CHATCTL_CONFIG => tmpdir() . '/chatctl-' . $$ . '-' . ++$N
                          . '.conf',
    );
    if (defined $target) {
        $env{CHATCTL_URL} = ref $target ? $target->url : $target;
    }
    if (defined $o->{jwt}) {
        $env{CHATCTL_TOKEN} = $o->{jwt};
    } elsif (defined $o->{user}) {
        $env{CHATCTL_TOKEN} = token(sub => $o->{user},
            $o->{roles} ? (roles => $o->{roles}) : (),
            defined $o->{name} ? (name => $o->{name}) : ());
    }
    %env = (%env, %{ $o->{env} // {} });
    return \%env;
}

sub _spawn {
    my ($env, $args, $in, $out, $err) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        delete @ENV{qw(CHATCTL_URL CHATCTL_TOKEN CHATCTL_CONFIG
                       CHATCTL_PASSWORD CHATCTL_KEY)};
        for my $k (keys %$env) {
            if (defined $env->{$k}) { $ENV{$k} = $env->{$k} }
            else { delete $ENV{$k} }
        }
        open STDIN, '<&', $in or POSIX::_exit(127);
        open STDOUT, '>', $out or POSIX::_exit(127);
        open STDERR, '>', $err or POSIX::_exit(127);
        { exec ctl_bin(), @$args }
        POSIX::_exit(127);
    }
    return $pid;
}

sub _slurp {
    my $f = shift;
    open my $h, '<:raw', $f or return '';
    local $/;
    my $t = <$h>;
    return $t // '';
}

sub ctl {
    my ($target, $o, $args) = _split_opts(@_);
    my $env = _env($target, $o);
    my $base = tmpdir() . "/ctl-$$-" . ++$N;
    open my $w, '>:raw', "$base.in" or die $!;
    print $w $o->{stdin} // '';
    close $w;
    open my $in, '<', "$base.in" or die $!;
    my $pid = _spawn($env, $args, $in, "$base.out", "$base.err");
    close $in;
    my $rc;
    my $done = ctl_wait(sub {
        my $r = waitpid $pid, WNOHANG;
        $rc = $? >> 8 if $r == $pid;
        return $r == $pid;
    }, $o->{timeout} // 20);
    if (!$done) {
        kill 'KILL', $pid;
        waitpid $pid, 0;
        $rc = -1;
    }
    my $out = _slurp("$base.out");
    my $err = _slurp("$base.err");
    unlink "$base.in", "$base.out", "$base.err";
    return { rc => $rc, out => $out, err => $err,
             lines => [split /\n/, $out] };
}

sub ctl_bg {
    my ($target, $o, $args) = _split_opts(@_);
    my $env = _env($target, $o);
    my $base = tmpdir() . "/ctlbg-$$-" . ++$N;
    pipe my $r, my $w or die "pipe: $!";
    my $pid = _spawn($env, $args, $r, "$base.out", "$base.err");
    close $r;
    $w->autoflush(1);
    return bless { pid => $pid, stdin => $w, base => $base }, __PACKAGE__;
}

sub pid { $_[0]{pid} }

sub out { _slurp("$_[0]{base}.out") }
sub err { _slurp("$_[0]{base}.err") }

# complete lines of stdout so far
sub lines {
    my $c = shift;
    my $t = $c->out;
    $t =~ s/[^\n]*\z//;
    return split /\n/, $t;
}

# waits until $n lines (matching $pred, if given) are out; returns them
sub wait_lines {
    my ($c, $n, $pred, $timeout) = @_;
    my @l;
    ctl_wait(sub {
        @l = $c->lines;
        @l = grep { $pred->($_) } @l if $pred;
        @l >= $n || !$c->running;
    }, $timeout // 10);
    @l = $c->lines;
    @l = grep { $pred->($_) } @l if $pred;
    return @l;
}

sub say {
    my ($c, $line) = @_;
    local $SIG{PIPE} = 'IGNORE';
    print { $c->{stdin} } "$line\n";
}

sub close_stdin {
    my $c = shift;
    close $c->{stdin} if $c->{stdin};
    delete $c->{stdin};
}

sub running {
    my $c = shift;
    return 0 if defined $c->{rc};
    my $r = waitpid $c->{pid}, WNOHANG;
    if ($r == $c->{pid}) {
        $c->{rc} = $? >> 8;
        $c->{signal} = $? & 127;
        return 0;
    }
    return 1;
}

# the exit code, or undef if it did not exit within $timeout
sub wait_exit {
    my ($c, $timeout) = @_;
    ctl_wait(sub { !$c->running }, $timeout // 10);
    return $c->{rc};
}

sub kill {
    my ($c, $sig) = @_;
    return unless $c->running;
    CORE::kill $sig // 'TERM', $c->{pid};
}

sub DESTROY {
    my $c = shift;
    if ($c->running) {
        CORE::kill 'KILL', $c->{pid};
        waitpid $c->{pid}, 0;
    }
    unlink "$c->{base}.out", "$c->{base}.err" unless $ENV{CHAT_TEST_KEEP};
}

1;
