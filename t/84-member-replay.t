# A client that was away while members were kicked, banned, muted,
# unmuted, unbanned, given roles, added and left, and the room changed,
# rejoins with since_rev (protocol.md 5a) and gets every durable event it
# missed exactly once, in rev order: the same events, with the same text,
# as a connection that stayed, and as PostgreSQL holds them.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my @ng = map { start_nginx(workers => 2, listen => 'reuseport') } 1 .. 2;
my $pg = backends()->{conninfo};
my $t = "mr$$" . int(rand 1000);
my ($own, $away, $stay, $x, $y, $z, $w) = map { "$t$_" }
    qw(own away stay x y z w);
my $room = rand_room('mrep');

is api($ng[0], 'POST', '/rooms', user => $own, json => { room => $room })
    ->{status}, 201, 'a public channel';

sub durable { grep { ($_->{type} // '') =~ /^(message|member|room)$/
                     && ($_->{room} // '') eq $room } @_ }

my $s = login($ng[0], $stay);
my $js = $s->request({ type => 'join', room => $room });
my $ca = login($ng[1], $away);
my $ja = $ca->request({ type => 'join', room => $room });
is $ja->{type}, 'ok', 'the client that goes away joins';
my $last = $ja->{rev};
$ca->close;

# meanwhile, on both instances
for my $u ($x, $y, $z) {
    is api($ng[0], 'PUT', "/rooms/$room/members/$u", user => $own)->{status},
        200, "$u added";
}
my $o = login($ng[1], $own);
my @steps = (
    [0, 'POST', "/rooms/$room/messages", { body => 'one' }],
    [1, 'DELETE', "/rooms/$room/members/$x"],
    [0, 'POST', "/rooms/$room/bans/$y", { until => (time + 60) * 1000 }],
    [1, 'POST', "/rooms/$room/mutes/$z"],
    [0, 'POST', "/rooms/$room/messages", { body => 'two' }],
    [1, 'PUT', "/rooms/$room/members/$z", { role => 'moderator' }],
    [0, 'DELETE', "/rooms/$room/mutes/$z"],
    [1, 'DELETE', "/rooms/$room/bans/$y"],
    [0, 'PATCH', "/rooms/$room", { name => 'Renamed', topic => 'moved' }],
);
for my $k (@steps) {
    my ($i, $m, $p, $b) = @$k;
    my $r = api($ng[$i], $m, $p, user => $own, $b ? (json => $b) : ());
    ok $r->{status} =~ /^20[014]$/, "$m $p: $r->{status}";
}
# a newcomer joins over WebSocket and leaves over REST
my $cw = login($ng[0], $w);
is $cw->request({ type => 'join', room => $room })->{type}, 'ok',
    "$w joins (joined)";
is api($ng[1], 'DELETE', "/rooms/$room/members/$w", user => $w)->{status},
    204, "$w leaves (left)";
my $final = psql($pg, "select last_rev from rooms where id = '$room'");

# what storage holds after $last, in rev order
my @stored = split /\n/, psql($pg,
    "select rev || ' ' || kind || ' ' || coalesce(event->>'user', '')"
    . " || ' ' || coalesce(event->>'action', '') from chat_room_events"
    . " where room_id = '$room' and rev > $last"
    . " union all select rev || ' message ' || sender || ' ' || body"
    . " from messages where room_id = '$room' and rev > $last"
    . " order by 1");
@stored = sort { (split ' ', $a)[0] <=> (split ' ', $b)[0] } @stored;

sub line {
    my ($e) = @_;
    return join ' ', $e->{rev}, $e->{type},
        $e->{type} eq 'message' ? ($e->{from}, $e->{body})
        : $e->{type} eq 'room' ? ('', '') : ($e->{user}, $e->{action});
}
$_ =~ s/ +$// for @stored;

# the client that stayed saw them live
ChatTest::run_loop(sub { grep { ($_->{rev} // 0) == $final } @{ $s->queue } },
                   10);
my @live = grep { $_->{rev} > $last } durable(@{ $s->queue });
is_deeply [map { my $l = line($_); $l =~ s/ +$//; $l } @live], \@stored,
    'the connection that stayed got every event after the rev, in order'
    or diag explain [map { line($_) } @live], \@stored;

# the one that was away comes back on the other instance
my $cb = login($ng[0], $away);
my $id = next_id();
$cb->send_json({ type => 'join', room => $room, id => $id,
                since_rev => $last });
my @f = $cb->recv_until(sub { ($_->{id} // '') eq $id }, 10);
my $reply = pop @f;
is $reply && $reply->{type}, 'ok', 'rejoin with since_rev';
is $reply->{rev}, $final, '... answering the latest rev';
my @rep = durable(@f);
is_deeply [map { $_->{rev} } @rep], [$last + 1 .. $final],
    'every rev after it exactly once, in order, no gap';
is_deeply [map { my $l = line($_); $l =~ s/ +$//; $l } @rep], \@stored,
    '... the events storage holds';
is_deeply \@rep, \@live, '... equal to what the connection that stayed got';
my %act = map { ($_->{action} // '') => $_ } grep { $_->{type} eq 'member' }
          @rep;
is_deeply [sort keys %act],
    [sort qw(joined kicked banned muted role unmuted unbanned left)],
    'kick, ban, mute, role change, unmute, unban, join and leave all there';
is $act{kicked}{by}, $own, 'with by';
ok $act{banned}{until} > 0, 'the ban with its until';
is $act{role}{role}, 'moderator', 'the role change with its role';
my ($rm) = grep { $_->{type} eq 'room' } @rep;
is_deeply [@{ $rm // {} }{qw(name topic)}], [qw(Renamed moved)],
    'and the room event';

is_deeply [map { $_->crashes } @ng], [], 'no worker crashed';
$_->stop for @ng;
done_testing;
