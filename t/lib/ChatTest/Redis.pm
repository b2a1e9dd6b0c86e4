package ChatTest::Redis;

# A test's own Redis: ->stop, ->start, ->restart, ->port, ->addr, ->running

use strict;
use warnings;

use ChatTest::Backends qw(launch_server);
use ChatTest::Env qw($BACKENDS_SH port_open sh);

sub launch { launch_server($_[0], 'redis', $_[1], sub { $_[0]->start }) }

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
