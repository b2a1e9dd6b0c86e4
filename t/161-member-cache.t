# The membership cache (docs/architecture.md, "The membership cache"):
# on a worker that delivers a room, a member's rejoin (after a leave, or
# on a new connection) is answered without an access check in PostgreSQL
# (ngx_chat_joins_cached_total counts it).  An end of the membership
# committed on another nginx instance, once that worker has delivered its
# event, is never answered from the cache: a kicked member of a private
# room and a banned member of a public one are refused.  A room that lost
# its Redis subscription knows nobody any more.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP ();
use ChatTest;
use ChatTest::Prom qw(prom_scrape prom_num);

my $redis = start_redis();

# the moderator's instance; and one of one worker, where every connection
# shares the rooms (and so the cache)
my $ma = start_nginx(workers => 2, redis => $redis->addr);
my $nb = start_nginx(workers => 1, redis => $redis->addr,
                     server => 'location = /metrics { chat_metrics; }');

sub cached {
    prom_num(prom_scrape($nb->url . '/metrics'),
             'ngx_chat_joins_cached_total');
}

my $t = "mk$$" . int(rand 1000);
my ($own, $one, $two) = map { "$t$_" } qw(own one two);

sub joined {
    my ($c, $room) = @_;
    my $r = $c->request({ type => 'join', room => $room }, 10);
    return $r && $r->{type} eq 'ok' ? $r : undef;
}

sub left {
    my ($c, $room) = @_;
    my $r = $c->request({ type => 'leave', room => $room }, 10);
    return $r && $r->{type} eq 'ok';
}

for my $private (1, 0) {
    my $kind = $private ? 'private' : 'public';
    my $room = rand_room($private ? 'mcp' : 'mco');

    is api($ma, 'POST', '/rooms', user => $own,
           json => { room => $room,
                     $private ? (private => JSON::PP::true()) : () })
        ->{status}, 201, "$kind: the room";
    for my $u ($one, $two) {
        is api($ma, 'PUT', "/rooms/$room/members/$u", user => $own)
            ->{status}, 200, "$kind: $u is a member";
    }

    # the watcher keeps the room on the second instance's worker
    my $w = login($nb, $two);
    ok joined($w, $room), "$kind: the watcher joined";

    my $c = login($nb, $one);
    my $n = cached();
    my $r = joined($c, $room);
    ok $r, "$kind: the member joined";
    is cached(), $n, "$kind: a first join is checked in storage";

    ok left($c, $room), "$kind: left (the connection, not the room)";
    $r = joined($c, $room);
    ok $r, "$kind: joined again";
    is cached(), $n + 1, "$kind: the rejoin came from the cache";

    $c->close;
    ok $c->closed(5), "$kind: the connection closed";
    $c = login($nb, $one);
    ok joined($c, $room), "$kind: joined on a new connection";
    is cached(), $n + 2, "$kind: from the cache too";
    ok left($c, $room), "$kind: left again";

    # the end of the membership, on the other instance
    my ($action, @call) = $private
        ? ('kicked', 'DELETE', "/rooms/$room/members/$one")
        : ('banned', 'POST', "/rooms/$room/bans/$one");
    is api($ma, @call, user => $own)->{status}, 204,
        "$kind: the owner ends the membership on the other instance";
    ok $w->wait_for(sub { ($_->{type} // '') eq 'member'
                          && $_->{action} eq $action
                          && $_->{user} eq $one }, 5),
        "$kind: the worker of the cache delivered \"$action\"";

    $r = $c->request({ type => 'join', room => $room }, 10);
    is $r && $r->{code}, 'forbidden', "$kind: the rejoin is refused";
    is cached(), $n + 2, "$kind: and not from the cache";

    $_->close for $c, $w;
}

# a subscription lost: nobody is known any more, the join is checked
my $room = rand_room('mcr');
is api($ma, 'POST', '/rooms', user => $own, json => { room => $room })
    ->{status}, 201, 'a public room';
my $w = login($nb, $two);
my $c = login($nb, $one);
ok joined($w, $room) && joined($c, $room), 'both joined';
ok left($c, $room) && joined($c, $room), 'left and joined again';
my $n = cached();
ok left($c, $room), 'left';

$redis->restart;
ok wait_until(sub {
    my $h = http_get($nb->api_url . '/health', timeout => 2);
    ($h->{json}{redis} // '') eq 'up';
}, 20, 0.1), 'Redis back';

ok joined($c, $room), 'joined after Redis came back';
is cached(), $n, 'checked in storage: the cache was dropped';

is_deeply [map { $_->crashes } $ma, $nb], [], 'no worker crashed';
$_->stop for $ma, $nb;
done_testing;
