# Moderation reaches live connections on every worker and host within
# 1 s (protocol.md section 9): two nginx instances of two workers on the
# same Redis and PostgreSQL.  The moderator acts over REST on one
# instance; the user's connections on the other get the member event,
# then nothing more from the room (no message, no typing) after a kick
# or a ban; a mute refuses their typing there at once.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use ChatTest;

my @ng = map { start_nginx(workers => 2, listen => 'reuseport') } 1 .. 2;
my $t = "mc$$" . int(rand 1000);
my ($own, $vic, $wat, $snd) = map { "$t$_" } qw(own vic wat snd);
my $room = rand_room('modc');

is api($ng[0], 'POST', '/rooms', user => $own, json => { room => $room })
    ->{status}, 201, 'a public channel';

# the victim has three connections on the second instance (both workers,
# most likely); a watcher there too; a sender on the first
my @v = map { login($ng[1], $vic) } 1 .. 3;
my $w = login($ng[1], $wat);
my $s = login($ng[0], $snd);

sub join_all {
    for my $c (@_) {
        my $j = $c->request({ type => 'join', room => $room }, 10);
        die 'join failed: ' . ($j ? $j->{code} : 'timeout')
            unless $j && $j->{type} eq 'ok';
    }
}

# every victim connection gets the member event with $action; returns the
# longest wait since $t0
sub all_get {
    my ($action, $t0) = @_;
    my $late = 0;
    for my $c (@v) {
        # what came before it is of no interest here
        $c->recv_until(sub { ($_->{type} // '') eq 'member'
                             && $_->{action} eq $action
                             && $_->{user} eq $vic }, 5);
        return undef unless $c->{last_until_ok};
        my $dt = time - $t0;
        $late = $dt if $dt > $late;
    }
    return $late;
}

# after a kick or a ban: a message and a typing event reach the watcher
# on the same instance, never the victim
sub nothing_more {
    my ($what) = @_;
    my $body = "after $what";
    $s->request({ type => 'typing', room => $room });
    $s->request({ type => 'send', room => $room, body => $body });
    my $m = $w->wait_for(sub { ($_->{type} // '') eq 'message'
                               && $_->{body} eq $body }, 5);
    ok $m, "$what: the watcher on the other instance gets the next message";
    $_->settle(0.3) for @v;
    my @got = grep { ($_->{room} // '') eq $room
                     && ($_->{type} // '') =~ /^(message|typing|member|room)$/ }
              map { @{ $_->queue } } @v;
    is scalar(@got), 0, "$what: the victim's connections get nothing more"
        or diag explain \@got;
    @{ $_->queue } = () for @v;
}

join_all(@v, $w, $s);

# ---- kick
my $t0 = time;
is api($ng[0], 'DELETE', "/rooms/$room/members/$vic", user => $own)
    ->{status}, 204, 'the owner kicks on the first instance';
my $late = all_get('kicked', $t0);
ok defined $late && $late < 1, 'every connection on the other instance got '
    . 'member kicked within 1 s' . (defined $late ? sprintf(' (%.3f s)', $late)
                                                  : '');
nothing_more('kicked');

# a public room may be joined again after a kick
join_all(@v);
pass 'after a kick, the public room may be joined again';

# ---- mute: typing is refused on the other instance within 1 s
$t0 = time;
is api($ng[0], 'POST', "/rooms/$room/mutes/$vic", user => $own)->{status},
    204, 'the owner mutes';
$late = all_get('muted', $t0);
ok defined $late && $late < 1, 'member muted on every connection within 1 s';
for my $i (0 .. $#v) {
    my $r = $v[$i]->request({ type => 'typing', room => $room });
    is $r && $r->{code}, 'forbidden', "connection $i: typing forbidden";
}
is $v[0]->request({ type => 'send', room => $room, body => 'x' })->{code},
    'forbidden', 'send forbidden';
$t0 = time;
is api($ng[1], 'DELETE', "/rooms/$room/mutes/$vic", user => $own)->{status},
    204, 'unmuted on the second instance';
ok all_get('unmuted', $t0) < 1, 'member unmuted within 1 s';
is $v[2]->request({ type => 'typing', room => $room })->{type}, 'ok',
    'typing allowed again';

# ---- ban
$t0 = time;
is api($ng[0], 'POST', "/rooms/$room/bans/$vic", user => $own,
       json => { reason => 'flood' })->{status}, 204, 'the owner bans';
$late = all_get('banned', $t0);
ok defined $late && $late < 1, 'member banned on every connection within 1 s';
nothing_more('banned');
for my $c (@v) {
    is $c->request({ type => 'join', room => $room })->{code}, 'forbidden',
        'a banned user may not join again';
}

is_deeply [map { $_->crashes } @ng], [], 'no worker crashed';
$_->stop for @ng;
done_testing;
