# Channels (protocol.md sections 5, 7, 9): POST /rooms (201, 409,
# private, name, topic), PATCH /rooms/{room} (owner or JWT admin: a
# durable room event), GET /rooms/{room}/members (role, cursors, online,
# muted_until), PUT and DELETE members, and a durable member event with
# rev for every membership change: joined on a first join (before the
# join's reply) or first send (before the message in rev), added to a
# private room, left, kicked.  A private room shows a non-member nothing.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $ng = start_nginx(workers => 2, listen => 'reuseport');
my $pg = backends()->{conninfo};
my $t = "ch$$" . int(rand 1000);
my ($own, $mod, $mem, $out, $new) = map { "$t$_" } qw(own mod mem out new);
my $admin_tok = token(sub => "${t}root", roles => ['admin']);

sub member_events {
    my ($c, $room) = @_;
    my (@m, @rest);
    for (@{ $c->queue }) {
        if (($_->{type} // '') eq 'member' && $_->{room} eq $room) {
            push @m, $_;
        } else {
            push @rest, $_;
        }
    }
    @{ $c->queue } = @rest;
    return @m;
}

sub wait_event {
    my ($c, $type, $room, $pred) = @_;
    return $c->wait_for(sub { ($_->{type} // '') eq $type
                              && ($_->{room} // '') eq $room
                              && (!$pred || $pred->($_)) }, 5);
}

# ---- POST /rooms
my $pub = rand_room('pub');
my $r = api($ng, 'POST', '/rooms', user => $own,
            json => { room => $pub, name => 'Pub', topic => 'talk' });
is $r->{status}, 201, 'POST /rooms: 201';
is_deeply [@{ $r->{json} }{qw(room kind name topic private role)}],
    [$pub, 'channel', 'Pub', 'talk', JSON::PP::false(), 'owner'],
    'the room: its fields, the creator its owner';
is_api_error(api($ng, 'POST', '/rooms', user => $mem, json => { room => $pub }),
             409, 'conflict', 'POST /rooms again: 409');
is_api_error(api($ng, 'POST', '/rooms', user => $mem,
                 json => { room => 'dm:a:b' }), 400, 'bad_request',
             'POST /rooms with a dm: id: 400');

# ---- member events: a first join, before its reply; none for a rejoin
my $wo = login($ng, $own);
my $j = $wo->request({ type => 'join', room => $pub });
is $j->{type}, 'ok', 'the owner joins';
my $wm = login($ng, $mem);
$j = $wm->request({ type => 'join', room => $pub });
my $ev = wait_event($wo, 'member', $pub);
is_deeply $ev, { type => 'member', room => $pub, user => $mem,
                 rev => $j->{rev}, action => 'joined' },
    "a first join: the others get member joined, with the join's rev";
my $j2 = $wm->request({ type => 'join', room => $pub });
is $j2->{rev}, $j->{rev}, 'a second join: no new event, the same rev';
$wm->request({ type => 'leave', room => $pub });
$j2 = $wm->request({ type => 'join', room => $pub });
is $j2->{rev}, $j->{rev}, 'a leave and a join of a member: no event';

# a first send: joined comes first in rev, then the message
my $ws = login($ng, "${t}snd");
my $ok = $ws->request({ type => 'send', room => $pub, body => 'hi' });
is $ok->{type}, 'ok', 'a non-member sends to the public channel';
my @f = $wo->recv_until(sub { ($_->{type} // '') eq 'message' }, 5);
my @dur = grep { ($_->{type} // '') =~ /^(member|message)$/ } @f;
is_deeply [map { "$_->{type} $_->{rev}" } @dur],
    ["member " . ($ok->{rev} - 1), "message $ok->{rev}"],
    'the joined event of a first send precedes the message in rev';
is $dur[0]{user}, "${t}snd", '... and names the sender';
$ok = $ws->request({ type => 'send', room => $pub, body => 'again' });
@f = $wo->recv_until(sub { ($_->{type} // '') eq 'message' }, 5);
is scalar(grep { ($_->{type} // '') eq 'member' } @f), 0,
    'a second send: no member event';

# ---- PATCH /rooms/{room}
is_api_error(api($ng, 'PATCH', "/rooms/$pub", user => $mem,
                 json => { name => 'x' }), 403, 'forbidden',
             'PATCH by a member: 403');
$r = api($ng, 'PATCH', "/rooms/$pub", user => $own,
         json => { name => 'Renamed', topic => 'new topic' });
is $r->{status}, 200, 'PATCH by the owner: 200';
is_deeply [@{ $r->{json} }{qw(room name topic)}],
    [$pub, 'Renamed', 'new topic'],
    'the answer is the room as changed';
$ev = wait_event($wm, 'room', $pub);
is_deeply [@{ $ev // {} }{qw(name topic private)}],
    ['Renamed', 'new topic', JSON::PP::false()],
    'joined connections get the room event';
ok $ev->{rev} > $ok->{rev}, 'with the next rev';
is $r->{json}{rev}, $ev->{rev}, 'the answer carries that rev';
$r = api($ng, 'PATCH', "/rooms/$pub", token => $admin_tok,
         json => { topic => undef });
is $r->{status}, 200, 'PATCH by a JWT admin: 200 (acts as owner)';
$ev = wait_event($wm, 'room', $pub);
ok $ev && !exists $ev->{topic} && $ev->{name} eq 'Renamed',
    'topic null clears it; the event has no topic';
is_api_error(api($ng, 'PATCH', "/rooms/$pub", user => $own, json => {}),
             400, 'bad_request', 'PATCH with nothing to change: 400');
is_api_error(api($ng, 'PATCH', "/rooms/" . rand_room('none'),
                 user => $own, json => { name => 'x' }), 404, 'not_found',
             'PATCH of no room: 404');

# ---- GET members
$wm->request({ type => 'read', room => $pub, seq => 1 });
$r = api($ng, 'GET', "/rooms/$pub/members", user => $mem);
is $r->{status}, 200, 'GET members: 200';
my %m = map { $_->{user} => $_ } @{ $r->{json}{members} };
is_deeply [sort keys %m], [sort $own, $mem, "${t}snd"], 'every member';
# a read moves the delivered cursor along; the member is connected
is_deeply $m{$mem}, { user => $mem, role => 'member', read_seq => 1,
                      delivered_seq => 1, online => JSON::PP::true() },
    'a member: role, read_seq, delivered_seq, online, no muted_until';
is $m{$own}{role}, 'owner', 'the owner';

# ---- roles: only the owner (or admin) sets them
is_api_error(api($ng, 'PUT', "/rooms/$pub/members/$mem", user => $mem,
                 json => { role => 'moderator' }), 403, 'forbidden',
             'a member sets a role: 403');
$r = api($ng, 'PUT', "/rooms/$pub/members/$mem", user => $own,
         json => { role => 'moderator' });
is $r->{status}, 200, 'the owner makes a moderator: 200';
is $r->{json}{role}, 'moderator', '... the answer has the role';
$ev = wait_event($wm, 'member', $pub, sub { $_[0]{action} eq 'role' });
is_deeply [@{ $ev // {} }{qw(user action role by)}],
    [$mem, 'role', 'moderator', $own], 'member role event with by';
is_api_error(api($ng, 'PUT', "/rooms/$pub/members/$out", user => $own,
                 json => { role => 'moderator' }), 404, 'not_found',
             'a role for a non-member: 404');
is_api_error(api($ng, 'PUT', "/rooms/$pub/members/$own", user => $mem,
                 json => { role => 'boss' }), 400, 'bad_request',
             'an unknown role: 400');

# ---- a private room: members only
my $priv = rand_room('priv');
is api($ng, 'POST', '/rooms', user => $own,
       json => { room => $priv, private => JSON::PP::true() })->{status},
    201, 'a private room';
my $wo2 = $wo->request({ type => 'join', room => $priv });
my $wx = login($ng, $out);
for my $req ({ type => 'join', room => $priv },
             { type => 'send', room => $priv, body => 'x' },
             { type => 'history', room => $priv },
             { type => 'read', room => $priv, seq => 1 }) {
    is $wx->request($req)->{code}, 'forbidden',
        "a non-member's $req->{type} of a private room: forbidden";
}
for my $k (['GET', "/rooms/$priv"], ['GET', "/rooms/$priv/members"],
           ['GET', "/rooms/$priv/messages"],
           ['PATCH', "/rooms/$priv", { name => 'x' }],
           ['PUT', "/rooms/$priv/members/$out"],
           ['DELETE', "/rooms/$priv/members/$own"],
           ['POST', "/rooms/$priv/bans/$own"]) {
    my ($m, $p, $b) = @$k;
    my $x = api($ng, $m, $p, user => $out, $b ? (json => $b) : ());
    is_api_error($x, 403, 'forbidden', "$m $p by a non-member: 403");
    unlike $x->{body}, qr/$own|Renamed/, '... telling nothing of it';
}
ok !(grep { $_->{room} eq $priv }
     @{ api($ng, 'GET', '/rooms', user => $out)->{json}{rooms} }),
    'not in a non-member\'s room list';

# adding: a moderator may, a member may not
api($ng, 'PUT', "/rooms/$priv/members/$mod", user => $own);
api($ng, 'PUT', "/rooms/$priv/members/$mod", user => $own,
    json => { role => 'moderator' });
api($ng, 'PUT', "/rooms/$priv/members/$mem", user => $own);
is_api_error(api($ng, 'PUT', "/rooms/$priv/members/$out", user => $mem),
             403, 'forbidden', 'a member adds to a private room: 403');
$r = api($ng, 'PUT', "/rooms/$priv/members/$out", user => $mod);
is $r->{status}, 200, 'a moderator adds to a private room: 200';
my @ev = grep { $_->{user} eq $out }
         (wait_event($wo, 'member', $priv, sub { $_[0]{user} eq $out }));
is_deeply [@{ $ev[0] // {} }{qw(action by)}], ['joined', $mod],
    'member joined with by';
is api($ng, 'PUT', "/rooms/$priv/members/$out", user => $mod)->{status}, 200,
    'adding a member again: 200';
$j = $wx->request({ type => 'join', room => $priv });
is $j->{type}, 'ok', 'the added user joins now';
is $j->{rev}, $ev[0]{rev}, '... and no event for it: the rev is the same';

# leaving: DELETE on oneself
$r = api($ng, 'DELETE', "/rooms/$priv/members/$out", user => $out);
is $r->{status}, 204, 'DELETE on oneself: 204 (leave)';
$ev = wait_event($wo, 'member', $priv, sub { $_[0]{action} eq 'left' });
is_deeply [@{ $ev // {} }{qw(user action)}], [$out, 'left'], 'member left';
ok !exists $ev->{by}, 'left has no by';
$ev = wait_event($wx, 'member', $priv, sub { $_[0]{action} eq 'left' });
ok $ev, 'the leaver\'s connection gets it too';
$wo->request({ type => 'send', room => $priv, body => 'after leave' });
$wo->wait_messages($priv, 1);
$wx->settle(0.3);
is scalar($wx->take_messages($priv)), 0,
    'then nothing more from the room';
is $wx->request({ type => 'history', room => $priv })->{code}, 'forbidden',
    'and the private room is closed to them again';

# kicking: DELETE on another
is $ws->request({ type => 'join', room => $pub })->{type}, 'ok',
    'the sender joins too';
$r = api($ng, 'DELETE', "/rooms/$pub/members/${t}snd", user => $own);
is $r->{status}, 204, 'the owner kicks: 204';
$ev = wait_event($ws, 'member', $pub, sub { $_[0]{action} eq 'kicked' });
is_deeply [@{ $ev // {} }{qw(user action by)}], ["${t}snd", 'kicked', $own],
    'member kicked with by, to the kicked user too';
is_api_error(api($ng, 'DELETE', "/rooms/$pub/members/${t}snd", user => $own),
             404, 'not_found', 'kicking a non-member: 404');

# a first read of a public channel is a membership too: joined (with the
# next rev) before the read's receipt; over WebSocket and REST alike
{
    my $rd = rand_room('rd');
    my $wr = login($ng, $own);
    my $sent = $wr->request({ type => 'send', room => $rd, body => 'x' });
    is $wr->request({ type => 'join', room => $rd })->{type}, 'ok',
        'the owner of another room joins it';
    for my $k ([ws => "${t}rws"], [rest => "${t}rrest"]) {
        my ($how, $who) = @$k;
        my $before = $wr->request({ type => 'join', room => $rd })->{rev};
        if ($how eq 'ws') {
            my $c = login($ng, $who);
            is $c->request({ type => 'read', room => $rd,
                             seq => $sent->{seq} })->{type}, 'ok',
                "$how: a non-member reads";
            $c->close;
        } else {
            is api($ng, 'POST', "/rooms/$rd/read", user => $who,
                   json => { seq => $sent->{seq} })->{status}, 204,
                "$how: a non-member reads";
        }
        my @f = $wr->recv_until(sub { ($_->{type} // '') eq 'receipt'
                                      && $_->{user} eq $who }, 5);
        my @ev = grep { ($_->{type} // '') =~ /^(member|receipt)$/
                        && ($_->{user} // '') eq $who } @f;
        is_deeply [map { $_->{type} . ($_->{action} // '') } @ev],
            ['memberjoined', 'receipt'],
            "$how: member joined, then the receipt";
        is $ev[0] && $ev[0]{rev}, $before + 1, "$how: with the next rev";
        is api($ng, 'POST', "/rooms/$rd/read", user => $who,
               json => { seq => $sent->{seq}, state => 'delivered' })
               ->{status}, 204, "$how: a second read";
    }
    my $again = $wr->request({ type => 'join', room => $rd })->{rev};
    my @left = grep { ($_->{type} // '') eq 'member' } @{ $wr->queue };
    is_deeply [map { $_->{user} } @left], [], 'a second read: no event';
    is $again, $sent->{rev} + 2, 'the room rev counts the two joined events';
    $wr->close;
}

is_deeply [$ng->crashes], [], 'no worker crashed';
done_testing;
