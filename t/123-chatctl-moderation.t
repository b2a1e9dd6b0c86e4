# chatctl kick, ban, unban, mute (--until), unmute (protocol.md section 9)
# with a moderator's and an admin's token, and their effect: a banned
# user's send and history are forbidden (exit 3) until unban, a muted
# user's send until unmute or until the time given, a kicked user's tail
# ends with exit 3; a plain member may not moderate (exit 3).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;
use ChatTest::Ctl qw(ctl ctl_bg ctl_bin ctl_wait);

plan skip_all => 'build/chatctl is not built' unless -x ctl_bin();

my $ng = start_nginx(workers => 2);
my $tag = sprintf 'm%d%04x', $$, int rand 65536;
my ($erin, $mod, $admin, $member) = map { "$tag$_" } qw(e mod adm mem);
my $room = rand_room('mod');
my %m = (roles => ['moderator']);
my %a = (roles => ['admin']);

sub send_as { ctl($ng, user => shift, 'send', $room, @_) }

is send_as($erin, 'first')->{rc}, 0, 'erin sends';
is send_as($member, 'hello')->{rc}, 0, 'a member sends';

# ---- a member may not moderate
my $r = ctl($ng, user => $member, 'ban', $room, $erin);
is $r->{rc}, 3, 'ban by a plain member: exit 3';
like $r->{err}, qr/^chatctl: forbidden: /m, 'chatctl: forbidden: ...';

# ---- ban by a moderator: forbidden until unban
$r = ctl($ng, user => $mod, %m, 'ban', $room, $erin, '--reason', 'spam');
is $r->{rc}, 0, 'ban by a moderator: exit 0' or diag $r->{err};
is $r->{out}, '', 'prints nothing';
$r = send_as($erin, 'after ban');
is $r->{rc}, 3, 'the banned user\'s send: exit 3';
like $r->{err}, qr/^chatctl: forbidden: /m, 'forbidden';
is ctl($ng, user => $erin, 'history', $room)->{rc}, 3,
    'and history: exit 3';
$r = ctl($ng, user => $erin, 'tail', $room);
is $r->{rc}, 3, 'and tail (join refused): exit 3';
like $r->{err}, qr/^chatctl: forbidden: join /m, 'forbidden: join ...';
is ctl($ng, user => $mod, %m, 'unban', $room, $erin)->{rc}, 0,
    'unban: exit 0';
is send_as($erin, 'after unban')->{rc}, 0, 'erin may send again';

# ---- mute by an admin; --until a time past lets the user send again
is ctl($ng, user => $admin, %a, 'mute', $room, $erin)->{rc}, 0,
    'mute by an admin: exit 0';
is send_as($erin, 'muted')->{rc}, 3, 'the muted user\'s send: exit 3';
is ctl($ng, user => $erin, 'history', $room)->{rc}, 0,
    'but history (reading) works';
is ctl($ng, user => $admin, %a, 'unmute', $room, $erin)->{rc}, 0,
    'unmute: exit 0';
is send_as($erin, 'unmuted')->{rc}, 0, 'erin sends again';

$r = ctl($ng, user => $mod, %m, 'mute', $room, $erin, '--until', '1h');
is $r->{rc}, 0, 'mute --until 1h: exit 0';
my ($me) = grep { $_->{user} eq $erin }
    @{ api($ng, 'GET', "/rooms/$room/members", user => $mod, %m)
       ->{json}{members} // [] };
my $until = $me->{muted_until} // '';
my $now = time * 1000;
ok $until =~ /^\d+$/ && $until > $now + 3500e3 && $until < $now + 3700e3,
    'stored as now + 1 h in ms' or diag "muted_until: $until";
is send_as($erin, 'muted an hour')->{rc}, 3, 'erin is muted';
is ctl($ng, user => $mod, %m, 'mute', $room, $erin, '--until',
       int($now) - 1000)->{rc}, 0, 'mute --until a time already past';
is send_as($erin, 'mute over')->{rc}, 0, 'erin sends again';

# ---- kick: a live tail of the user ends with exit 3
my $w = login($ng, $mod, claims => { roles => ['moderator'] });
is $w->request({ type => 'join', room => $room })->{type}, 'ok',
    'a moderator\'s client joins';
my $t = ctl_bg($ng, user => $erin, 'tail', $room, '--json');
ok $w->wait_for(sub { ($_->{type} // '') eq 'presence'
                      && $_->{user} eq $erin && $_->{state} eq 'online' }),
    'erin\'s tail has joined the room';
is ctl($ng, user => $mod, %m, 'kick', $room, $erin)->{rc}, 0,
    'kick by a moderator: exit 0';
is $t->wait_exit, 3, 'erin\'s tail: exit 3';
like $t->err, qr/^chatctl: forbidden: kicked from \Q$room\E/m,
    'chatctl: forbidden: kicked from ROOM';
like $t->out, qr/"action":"kicked"/, 'after printing the member event';

# ---- unknown user or room: usage or not found
is ctl($ng, user => $mod, %m, 'ban', $room, 'bad user!')->{rc}, 1,
    'an invalid user id: exit 1';

close_all($w);

done_testing;
