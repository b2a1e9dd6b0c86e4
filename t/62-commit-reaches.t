# A commit always reaches its room: a worker that commits and never
# publishes (it died in between; here its Redis is another one, so its
# publishes reach nobody) still has its messages delivered to the
# connections on other workers within 2 s, in a room that stays quiet.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use ChatTest;

my $lost = start_redis();
my $a = start_nginx(workers => 1, redis => $lost->addr);
my $b = start_nginx(workers => 2, listen => 'reuseport');
my $room = rand_room('quiet');

my @rcv = map { login($b, "r$_") } 1 .. 4;
for (@rcv) {
    my $j = $_->request({ type => 'join', room => $room });
    die 'join failed' unless $j && $j->{type} eq 'ok';
}

my $s = login($a, 'sender');
for my $k (1 .. 3) {
    my $r = $s->request({ type => 'send', room => $room, body => "q$k" });
    is $r && $r->{type}, 'ok', "send $k acknowledged on A";
    my $t0 = time;
    my @late = grep { my @m = $_->wait_messages($room, 1, 5);
                      !(@m == 1 && $m[0]{seq} == $k) } @rcv;
    my $took = time - $t0;
    is scalar(@late), 0, "message $k reached every receiver on B";
    cmp_ok $took, '<', 2, sprintf('within 2 s (%.2f s)', $took);
}

# nothing twice once the real publish path is back
$_->settle(0.3) for @rcv;
is scalar(map { $_->take_messages($room) } @rcv), 0, 'no duplicate';

is_deeply [$a->crashes, $b->crashes], [], 'no worker crashed';
$_->stop for $a, $b;
done_testing;
