# chatctl tail: a room's live events, --json one JSON object per line
# exactly as a WebSocket client receives them; resumed with since_rev when
# the nginx it is connected to is stopped and started again (messages sent
# meanwhile through another nginx arrive, none twice); --since-rev N
# replays; --count N exits after N events; SIGTERM ends it with 0; a
# connection gone silent (its nginx's workers stopped) is pinged, taken
# for dead and reopened.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Mojo::JSON qw(decode_json);
use ChatTest;
use ChatTest::Ctl qw(ctl ctl_bg ctl_bin ctl_wait);

plan skip_all => 'build/chatctl is not built' unless -x ctl_bin();

my @ng = map { start_nginx(workers => 2) } 1 .. 2;
my $tag = sprintf 't%d%04x', $$, int rand 65536;
my ($alice, $bob) = ("${tag}a", "${tag}b");
my $room = rand_room('tail');

sub json_lines {
    my @l = @_;
    return map { my $j = eval { decode_json($_) }; ref $j eq 'HASH' ? $j
                 : { type => '_not_json', raw => $_ } } @l;
}

sub messages { grep { ($_->{type} // '') eq 'message' } json_lines(@_) }

# ---- tail --json gets what another client sends
my $wb = login($ng[0], $bob);
is $wb->request({ type => 'join', room => $room })->{type}, 'ok',
    'bob joins';
my $tail = ctl_bg($ng[0], user => $alice, 'tail', $room, '--json');
ok $wb->wait_for(sub { ($_->{type} // '') eq 'presence'
                      && $_->{user} eq $alice && $_->{state} eq 'online' }),
    'tail has joined (bob sees alice present)';

my @acks = $wb->pipeline([map { { type => 'send', room => $room,
                                 body => "live $_" } } 1 .. 3]);
is scalar(grep { $_ && $_->{type} eq 'ok' } @acks), 3, 'bob sends three';
my @seen = $wb->wait_messages($room, 3);

my @out = $tail->wait_lines(3, sub { /"type":"message"/ });
is scalar(@out), 3, 'tail printed three message lines' or diag $tail->err;
my @all = json_lines($tail->lines);
is scalar(grep { $_->{type} eq '_not_json' } @all), 0,
    'every line is one JSON object';
is_deeply [json_lines(@out)], \@seen,
    'each is the event bob received, as received';

# ---- the nginx tail is connected to stops and starts again
api($ng[1], 'POST', "/rooms/$room/messages", user => $bob,
    json => { body => "before stop $_" }) for 4 .. 5;
is scalar($tail->wait_lines(5, sub { /"type":"message"/ })), 5,
    'two more arrive (sent through the other nginx)';

$ng[0]->stop;
ok $tail->running, 'tail keeps running while its nginx is down';
for my $i (6 .. 8) {
    is api($ng[1], 'POST', "/rooms/$room/messages", user => $bob,
           json => { body => "while down $i" })->{status}, 201,
        "message $i sent through the other nginx meanwhile";
}
$ng[0]->start;

is scalar($tail->wait_lines(8, sub { /"type":"message"/ }, 15)), 8,
    'after the restart, the messages sent meanwhile arrive'
    or diag $tail->err;
api($ng[1], 'POST', "/rooms/$room/messages", user => $bob,
    json => { body => 'after restart 9' });
my @m = messages($tail->wait_lines(9, sub { /"type":"message"/ }));
is_deeply [map { $_->{seq} } @m], [1 .. 9],
    'tail printed seq 1 to 9: no loss, no duplicate, in order';
is_deeply [map { $_->{body} } @m[5 .. 7]],
    ['while down 6', 'while down 7', 'while down 8'], 'the right bodies';
like $tail->err, qr/^chatctl: reconnecting: /m,
    'stderr says it reconnected';
my @revs = map { $_->{rev} } grep { defined $_->{rev} }
    json_lines($tail->lines);
is_deeply \@revs, [sort { $a <=> $b } @revs], 'revs ascending';
my %n;
is scalar(grep { $n{$_}++ } @revs), 0, 'no rev twice';

$tail->kill('TERM');
is $tail->wait_exit, 0, 'SIGTERM: exit 0';

# ---- --since-rev N replays the events after N; --count N exits
my ($m5) = grep { $_->{seq} == 5 } @m;
my $r = ctl($ng[0], user => $alice, 'tail', $room, '--json', '--since-rev',
            $m5->{rev}, '--count', '4');
is $r->{rc}, 0, 'tail --since-rev R --count 4: exit 0' or diag $r->{err};
is_deeply [map { $_->{seq} } messages(@{ $r->{lines} })], [6 .. 9],
    'replays the messages after rev R';

# ---- the human format
$r = ctl($ng[1], user => $alice, 'tail', $room, '--since-rev', $m5->{rev},
         '--count', '1');
like $r->{out}, qr/^\d\d:\d\d:\d\d \Q$room\E#6 $bob: while down 6$/,
    'without --json: "time room#seq user: body"';

# ---- an unknown private room, or a bad token: no retry, an exit code
$r = ctl($ng[0], jwt => 'bad', 'tail', $room);
is $r->{rc}, 3, 'tail with a bad token: exit 3';
like $r->{err}, qr/^chatctl: unauthenticated: /m, 'unauthenticated';

# ---- a network gone: nothing closes the connection, the workers of its
# nginx are stopped; tail (--timeout 1) pings after 3 s of silence, takes
# the connection for dead a second later, and reconnects once they run
my $w2 = login($ng[1], $bob);
is $w2->request({ type => 'join', room => $room })->{type}, 'ok',
    'bob joins on the other nginx';
my $t2 = ctl_bg($ng[0], user => $alice, 'tail', $room, '--json',
                '--timeout', '1');
ok $w2->wait_for(sub { ($_->{type} // '') eq 'presence'
                       && $_->{user} eq $alice && $_->{state} eq 'online' }),
    'a second tail has joined';
my @stopped = $ng[0]->worker_pids;
kill 'STOP', @stopped;
is api($ng[1], 'POST', "/rooms/$room/messages", user => $bob,
       json => { body => 'while cut' })->{status}, 201,
    'a message is sent meanwhile';
ok ctl_wait(sub { $t2->err =~ /reconnecting: no answer/ }, 15),
    'tail takes the silent connection for dead' or diag $t2->err;
kill 'CONT', @stopped;
@m = messages($t2->wait_lines(1, sub { /"while cut"/ }, 15));
is scalar(@m), 1, 'after the workers run again, the message arrives'
    or diag $t2->err;
api($ng[1], 'POST', "/rooms/$room/messages", user => $bob,
    json => { body => 'after the cut' });
@m = messages($t2->wait_lines(2, sub { /"type":"message"/ }));
is_deeply [map { $_->{body} } @m], ['while cut', 'after the cut'],
    'each once, in order';
$t2->kill('TERM');
is $t2->wait_exit, 0, 'SIGTERM: exit 0';

close_all($wb, $w2);

done_testing;
