# chatctl join: interactive chat driven through pipes.  A line typed
# appears at another client, once; what others send is printed; a line
# typed while the nginx is down is sent after the reconnect, once; the
# end of stdin leaves once everything is acknowledged (exit 0); "/quit"
# leaves; a send refused (muted) makes the exit code 3.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;
use ChatTest::Ctl qw(ctl ctl_bg ctl_bin ctl_wait);

plan skip_all => 'build/chatctl is not built' unless -x ctl_bin();

my @ng = map { start_nginx(workers => 2) } 1 .. 2;
my $pg = backends()->{conninfo};
my $tag = sprintf 'j%d%04x', $$, int rand 65536;
my ($carol, $dave) = ("${tag}c", "${tag}d");
my $room = rand_room('join');

# the next message from carol that dave gets
sub from_carol {
    my ($c, $t) = @_;
    return $c->wait_for(sub { ($_->{type} // '') eq 'message'
                              && $_->{from} eq $carol }, $t // 10);
}

sub present {
    my ($c, $user) = @_;
    return $c->wait_for(sub { ($_->{type} // '') eq 'presence'
                              && $_->{user} eq $user
                              && $_->{state} eq 'online' }, 10);
}

my $d = login($ng[1], $dave);
is $d->request({ type => 'join', room => $room })->{type}, 'ok',
    'dave joins on the other nginx';

my $j = ctl_bg($ng[0], user => $carol, 'join', $room);
ok present($d, $carol), 'carol (chatctl join) is present';

# ---- a line typed appears at dave
$j->say('hello from the terminal');
my $m = from_carol($d);
is $m->{body}, 'hello from the terminal', 'dave gets the line carol typed';
is $m->{from}, $carol, 'from carol';
like $m->{client_msg_id} // '', qr/^chatctl-[0-9a-f]+-1$/,
    'with a client_msg_id';

# ---- what dave sends is printed
$d->request({ type => 'send', room => $room, body => 'hi carol' });
my @l = $j->wait_lines(1, sub { /$dave: hi carol$/ });
like $l[0] // '', qr/^\d\d:\d\d:\d\d \Q$room\E#2 $dave: hi carol$/,
    'carol sees dave\'s message as "time room#seq user: body"'
    or diag $j->out, $j->err;
ok scalar(grep { /#1 $carol: hello from the terminal$/ } $j->lines),
    'and her own, once the server echoed it';

# ---- carol's nginx stops; a line typed meanwhile goes out after it
# starts again, once
$ng[0]->stop;
$j->say('typed while down');
$ng[0]->start;
$m = from_carol($d, 15);
is $m->{body} // '', 'typed while down', 'dave gets it after the restart'
    or diag $j->err;
like $j->err, qr/^chatctl: reconnecting: /m, 'join reconnected';

# dave's message while carol was away is shown after the rejoin too
$d->request({ type => 'send', room => $room, body => 'after restart' });
ok scalar($j->wait_lines(1, sub { /$dave: after restart$/ })),
    'carol sees what came after the restart';

# ---- /quit
$j->say('/quit');
is $j->wait_exit, 0, '"/quit": exit 0';
is psql($pg, "select count(*) from messages where room_id = '$room' "
             . "and sender = '$carol'"), 2, 'carol\'s two lines, once each';

# ---- piped input: sent, acknowledged, then exit 0 at the end of stdin
my $r = ctl($ng[0], user => $carol, stdin => "one\ntwo\nthree\n", 'join',
            $room);
is $r->{rc}, 0, 'join < three lines: exit 0' or diag $r->{err};
my @got = map { from_carol($d) } 1 .. 3;
is_deeply [map { $_ && $_->{body} } @got], [qw(one two three)],
    'the three lines arrive, in order';

# ---- a refused send: reported, and the exit code says so
my $mod = token(sub => "${tag}m", roles => ['moderator']);
is api($ng[1], 'POST', "/rooms/$room/mutes/$carol", token => $mod,
       json => {})->{status}, 204, 'a moderator mutes carol';
$r = ctl($ng[0], user => $carol, stdin => "muted line\n", 'join', $room);
is $r->{rc}, 3, 'join with a send refused: exit 3';
like $r->{err}, qr/^chatctl: forbidden: message not sent/m,
    'chatctl: forbidden: message not sent: ...';

close_all($d);

done_testing;
