package ChatTest::Redis;

# A test's own Redis: ->stop, ->start, ->restart, ->port, ->addr, ->running

use strict;
use warnings;

use ChatTest::Backends qw(own);
use ChatTest::Env qw($BACKENDS_SH tmpdir free_port port_open sh);

sub launch {
    my ($class, $port) = @_;
    $port //= free_port();
    my $dir = tmpdir() . "/redis-$port";
    mkdir $dir;
    my $r = bless { port => $port, dir => $dir }, $class;
    $r->start;
    own($r);
    return $r;
}

sub port  { $_[0]{port} }
sub addr  { "127.0.0.1:$_[0]{port}" }
sub start {
    my $r = shift;
    sh($BACKENDS_SH, 'redis-start', $r->{dir}, $r->{port});
    $r->{up} = 1;
    return $r;
}
sub stop {
    my $r = shift;
    sh($BACKENDS_SH, 'redis-stop', $r->{dir});
    $r->{up} = 0;
    return $r;
}
sub restart { my $r = shift; $r->stop; $r->start }
sub running { port_open($_[0]{port}) }

1;
