# typing (protocol.md section 4): ephemeral, to the room's other joined
# connections on every worker (never to the typist's own), at most one
# event per user and room every 2 s (others answered ok and dropped), a
# stop never dropped and never ahead of the typing it ends; in the redis
# store too.  Only a member of the room may type in it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $ng = start_nginx(workers => 2, listen => 'reuseport', server => q{
        location /chat/ws-relay {
            chat_ws;
            chat_store redis;
        }});

sub typing_of { grep { ($_->{type} // '') eq 'typing' } @_ }

# every frame $c gets until the next typing event (undef: none in time)
sub next_typing {
    my ($c) = @_;
    my @f = $c->recv_until(sub { ($_->{type} // '') eq 'typing' }, 10);
    return $c->{last_until_ok} ? $f[-1] : undef;
}

sub run_room {
    my ($url, $label) = @_;
    my $room = rand_room('typing');
    my %c = map { $_->[0] => login($url // $ng, $_->[1]) }
            [alice1 => 'alice'], [alice2 => 'alice'], [bob => 'bob'];

    for my $k (qw(alice1 alice2 bob)) {
        my $r = $c{$k}->request({ type => 'join', room => $room });
        is $r && $r->{type}, 'ok', "$label: $k joins";
    }

    # the first typing goes out; the next within 2 s is dropped; a stop
    # is never dropped and comes after the typing
    for my $stop (0, 0, 1) {
        my $r = $c{alice1}->request({ type => 'typing', room => $room,
                                      $stop ? (stop => \1) : () });
        is $r && $r->{type}, 'ok', "$label: typing (stop $stop) is ok";
    }

    my $t = next_typing($c{bob});
    is_deeply $t, { type => 'typing', room => $room, user => 'alice' },
        "$label: bob sees alice typing";
    $t = next_typing($c{bob});
    ok $t && $t->{stop},
        "$label: the next is the stop: the second typing was dropped";
    delete $t->{stop} if $t;
    is_deeply $t, { type => 'typing', room => $room, user => 'alice' },
        "$label: ... of alice in the room";

    # after a stop, typing shows again at once
    my $r = $c{alice1}->request({ type => 'typing', room => $room });
    $t = next_typing($c{bob});
    is_deeply $t, { type => 'typing', room => $room, user => 'alice' },
        "$label: typing again after the stop shows";

    # the typist's own connections got none of it: a message bob sends
    # now comes after every typing event on every worker
    my $m = $c{bob}->request({ type => 'send', room => $room,
                               body => 'after' });
    ok $m && $m->{seq}, "$label: bob sends";
    for my $k (qw(alice1 alice2)) {
        my @f = $c{$k}->recv_until(sub { ($_->{type} // '') eq 'message' },
                                   10);
        ok $c{$k}{last_until_ok}, "$label: $k gets bob's message";
        is scalar(typing_of(@f)), 0,
            "$label: $k got no typing of its own user";
    }
    $_->close for values %c;
}

run_room(undef, 'postgresql store');
run_room('ws://127.0.0.1:' . $ng->port . '/chat/ws-relay', 'redis store');

# only a member types; bad stop values are bad requests
my $carol = login($ng, 'carol');
my $room = rand_room('typing');
my $r = $carol->request({ type => 'typing', room => $room });
is $r && $r->{type}, 'error', 'typing in a room not joined: error';
is $r && $r->{code}, 'bad_request', '... bad_request';
is $r && $r->{message}, 'join the room first', '... join the room first';
for my $bad (1, 'yes', [], {}) {
    $r = $carol->request({ type => 'typing', room => $room, stop => $bad });
    is $r && $r->{code}, 'bad_request', 'stop must be true or false';
}
$carol->close;

is $ng->crashes, 0, 'no worker crashed';

done_testing;
