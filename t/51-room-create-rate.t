# chat_room_create_rate: each user creates rooms within a budget, however
# they create them (join, send, POST /rooms, direct-message rooms) and on
# whichever nginx: beyond it the creation gets rate_limited with
# retry_after (429 with Retry-After over REST) and nothing is created.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $tag = "rc$$" . int(rand 1e6);    # user names of this run only

# 3 rooms at once, then one a minute: no refill within the test
my $A = start_nginx(http => 'chat_room_create_rate 1r/m burst=2;');
my $B = start_nginx(http => 'chat_room_create_rate 1r/m burst=2;');
my $conninfo = ChatTest::backends()->{conninfo};

sub exists_room {
    my $room = shift;
    return psql($conninfo, "select count(*) from rooms where id = '$room'");
}

sub is_limited {
    my ($r, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    ok($r && $r->{type} eq 'error' && $r->{code} eq 'rate_limited'
       && defined $r->{id} && defined $r->{retry_after}
       && $r->{retry_after} =~ /^\d+$/ && $r->{retry_after} >= 1
       && $r->{retry_after} <= 60, $name) or diag explain $r;
}

my $existing = rand_room('rc-existing');
is api($A, POST => '/rooms', user => "${tag}owner",
       json => { room => $existing })->{status}, 201, 'a room to join';

# ---- joins
{
    my $user = "${tag}j";
    my $c = login($A, $user);
    my @rooms = map { rand_room("rcj$_") } 1 .. 4;
    my @r = $c->pipeline([map { { type => 'join', room => $_ } } @rooms], 10);
    is_deeply [map { $_->{type} } @r[0 .. 2]], [qw(ok ok ok)],
        'three new rooms joined at once';
    is_limited $r[3], 'the fourth new room: rate_limited with retry_after';
    is exists_room($rooms[3]), 0, '... and it was not created';
    is $c->request({ type => 'join', room => $existing })->{type}, 'ok',
        'joining a room that exists costs nothing: ok';
    is $c->request({ type => 'join', room => "dm:$user:${tag}zz" })->{code},
        'rate_limited', 'a new direct-message room is a new room too';

    # the same user on the other nginx: the budget is the user's
    my $c2 = login($B, $user);
    is_limited $c2->request({ type => 'join', room => rand_room('rcj-b') }),
        'on another nginx: rate_limited too';
    close_all($c, $c2);
}

# ---- sends
{
    my $user = "${tag}s";
    my $c = login($A, $user);
    my @rooms = map { rand_room("rcs$_") } 1 .. 4;
    my @r = $c->pipeline([(map { { type => 'send', room => $_, body => 'x' } }
                           @rooms),
                          { type => 'send', room => $existing, body => 'y' }],
                         10);
    is_deeply [map { $_->{type} } @r[0 .. 2]], [qw(ok ok ok)],
        'sends to three new rooms: ok';
    is_limited $r[3], 'a send to a fourth: rate_limited';
    is $r[4]{type}, 'ok', 'a send of the same batch to a room that exists: ok';
    is exists_room($rooms[3]), 0, 'the fourth room was not created';
    is psql($conninfo, "select count(*) from messages where room_id = "
                       . "'$rooms[3]'"), 0, 'and nothing was stored for it';
    close_all($c);
}

# ---- REST, sharing the budget with the WebSocket
{
    my $user = "${tag}r";
    my $c = login($A, $user);
    is $c->request({ type => 'join', room => rand_room('rcr-ws') })->{type},
        'ok', 'one room created by a join';
    for my $i (1 .. 2) {
        is api($B, POST => '/rooms', user => $user,
               json => { room => rand_room("rcr$i") })->{status}, 201,
            "POST /rooms $i: 201";
    }
    my $room = rand_room('rcr-over');
    my $res = api($A, POST => '/rooms', user => $user, json => { room => $room });
    is_api_error $res, 429, 'rate_limited', 'the fourth room: 429';
    my $ra = $res->{headers}->header('Retry-After') // '';
    ok $ra =~ /^\d+$/ && $ra >= 1 && $ra <= 60, "Retry-After: $ra";
    is exists_room($room), 0, 'not created';
    $res = api($A, POST => "/rooms/$room/messages", user => $user,
               json => { body => 'hello' });
    is_api_error $res, 429, 'rate_limited',
        'POST /rooms/{new}/messages: 429 as well';
    is api($A, POST => '/rooms', user => $user,
           json => { room => $existing })->{status}, 409,
        'a room that exists: 409 still, not 429';
    is api($A, POST => "/rooms/$existing/messages", user => $user,
           json => { body => 'hi' })->{status}, 201,
        'posting to a room that exists: 201';
    close_all($c);
}

# ---- after retry_after, the user creates again
{
    my $C = start_nginx(http => 'chat_room_create_rate 30r/m burst=1;');
    my $user = "${tag}w";
    my $c = login($C, $user);
    my @r = $c->pipeline([map { { type => 'join', room => rand_room("rcw$_") } }
                          1 .. 3], 10);
    is_deeply [map { $_->{type} } @r[0 .. 1]], [qw(ok ok)],
        '30r/m burst=1: two rooms at once';
    is $r[2]{code}, 'rate_limited', 'the third: rate_limited';
    is $r[2]{retry_after}, 2, 'retry_after 2 (one room every 2 s)';
    run_loop(sub { 0 }, $r[2]{retry_after});
    is $c->request({ type => 'join', room => rand_room('rcw-again') })->{type},
        'ok', 'after retry_after: the next room is created';
    close_all($c);
    $C->stop;
}

# ---- off: no budget
{
    my $D = start_nginx(http => 'chat_room_create_rate off;');
    my $c = login($D, "${tag}o");
    my @r = $c->pipeline([map { { type => 'join', room => rand_room("rco$_") } }
                          1 .. 60], 10);
    is scalar(grep { $_ && $_->{type} eq 'ok' } @r), 60,
        'chat_room_create_rate off: 60 new rooms at once';
    close_all($c);
    $D->stop;
}

$A->stop;
$B->stop;
done_testing;
