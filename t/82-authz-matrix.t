# The authorization matrix of protocol.md section 9, over REST and
# WebSocket: each role (member, moderator, owner, JWT admin, JWT
# moderator, non-member) times each action (kick, ban, mute, unban,
# unmute, role change, add, PATCH; join, send, history, read, typing)
# times public, private and direct-message rooms.  Moderators may not act
# on an owner or another moderator.  A banned user may do nothing in the
# room; a muted one may read but not send or type.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $ng = start_nginx(workers => 2, listen => 'reuseport');
my $pg = backends()->{conninfo};
my $t = "mx$$" . int(rand 1000);
my $n = 0;

my %who = (owner => "${t}o", moderator => "${t}m", member => "${t}u",
           admin => "${t}adm", jwtmod => "${t}jm", nonmember => "${t}x");
my %tok = map { $_ => token(sub => $who{$_}) } keys %who;
$tok{admin} = token(sub => $who{admin}, roles => ['admin']);
$tok{jwtmod} = token(sub => $who{jwtmod}, roles => ['moderator']);
my @roles = qw(member moderator owner admin jwtmod nonmember);

# who may (protocol.md section 9)
my %may = (
    kick => [qw(moderator owner admin jwtmod)],
    ban => [qw(moderator owner admin jwtmod)],
    mute => [qw(moderator owner admin jwtmod)],
    unban => [qw(moderator owner admin jwtmod)],
    unmute => [qw(moderator owner admin jwtmod)],
    add => [qw(moderator owner admin jwtmod)],
    role => [qw(owner admin)],
    patch => [qw(owner admin)],
);

sub call {
    my ($role, $m, $p, $json) = @_;
    return api($ng, $m, $p, token => $tok{$role},
               defined $json ? (json => $json) : ());
}

sub fresh { $n++; "${t}t$n" }

sub make_room {
    my ($private) = @_;
    my $room = rand_room($private ? 'mxp' : 'mxo');
    my $r = call('owner', 'POST', '/rooms',
                 { room => $room,
                   $private ? (private => JSON::PP::true()) : () });
    die "create: $r->{body}" unless $r->{status} == 201;
    for my $u (qw(moderator member)) {
        call('owner', 'PUT', "/rooms/$room/members/$who{$u}")->{status} == 200
            or die "add $u";
    }
    call('owner', 'PUT', "/rooms/$room/members/$who{moderator}",
         { role => 'moderator' })->{status} == 200 or die 'role';
    return $room;
}

sub q1 { psql($pg, $_[0]) }

# one action by one role on a fresh target; returns (status, changed)
sub attempt {
    my ($room, $role, $action) = @_;
    my $u = fresh();
    my $member = sub {
        q1("select count(*) from members where room_id = '$room'"
           . " and user_id = '$u'") };
    my $banned = sub {
        q1("select count(*) from chat_room_bans where room_id = '$room'"
           . " and user_id = '$u'") };
    my $muted = sub {
        q1("select count(*) from chat_room_mutes where room_id = '$room'"
           . " and user_id = '$u'") };
    call('owner', 'PUT', "/rooms/$room/members/$u") unless $action eq 'add';
    call('owner', 'POST', "/rooms/$room/bans/$u") if $action eq 'unban';
    call('owner', 'POST', "/rooms/$room/mutes/$u") if $action eq 'unmute';
    my %do = (
        kick => ['DELETE', "/rooms/$room/members/$u", undef,
                 sub { $member->() eq '0' }],
        ban => ['POST', "/rooms/$room/bans/$u", { reason => 'spam' },
                sub { $banned->() eq '1' && $member->() eq '0' }],
        mute => ['POST', "/rooms/$room/mutes/$u",
                 { until => (time + 3600) * 1000 },
                 sub { $muted->() eq '1' }],
        unban => ['DELETE', "/rooms/$room/bans/$u", undef,
                  sub { $banned->() eq '0' }],
        unmute => ['DELETE', "/rooms/$room/mutes/$u", undef,
                   sub { $muted->() eq '0' }],
        add => ['PUT', "/rooms/$room/members/$u", undef,
                sub { $member->() eq '1' }],
        role => ['PUT', "/rooms/$room/members/$u", { role => 'moderator' },
                 sub { q1("select role from members where room_id = '$room'"
                          . " and user_id = '$u'") eq 'moderator' }],
        patch => ['PATCH', "/rooms/$room", { topic => "by $role" },
                  sub { q1("select topic from rooms where id = '$room'")
                        eq "by $role" }],
    );
    my ($m, $p, $body, $check) = @{ $do{$action} };
    my $r = call($role, $m, $p, $body);
    return ($r, $check->());
}

# ---- REST: public and private channels
for my $private (0, 1) {
    my $room = make_room($private);
    my $kind = $private ? 'private' : 'public';
    for my $action (sort keys %may) {
        my %ok = map { $_ => 1 } @{ $may{$action} };
        for my $role (@roles) {
            my ($r, $changed) = attempt($room, $role, $action);
            if ($ok{$role}) {
                ok $r->{status} =~ /^20[04]$/ && $changed,
                   "$kind: $role may $action ($r->{status})"
                   or diag $r->{body};
            } else {
                ok $r->{status} == 403 && !$changed
                   && ($r->{json}{error}{code} // '') eq 'forbidden',
                   "$kind: $role may not $action ($r->{status})"
                   or diag $r->{body};
            }
        }
    }

    # a moderator may not act on an owner or another moderator
    my $m2 = fresh();
    call('owner', 'PUT', "/rooms/$room/members/$m2");
    call('owner', 'PUT', "/rooms/$room/members/$m2", { role => 'moderator' });
    for my $k (['DELETE', "members/$who{owner}"], ['POST', "bans/$who{owner}"],
               ['POST', "mutes/$who{owner}"], ['DELETE', "members/$m2"],
               ['POST', "bans/$m2"], ['POST', "mutes/$m2"]) {
        is_api_error(call('moderator', $k->[0], "/rooms/$room/$k->[1]"),
                     403, 'forbidden',
                     "$kind: a moderator's $k->[0] $k->[1]: 403");
        is_api_error(call('jwtmod', $k->[0], "/rooms/$room/$k->[1]"),
                     403, 'forbidden',
                     "$kind: a JWT moderator's $k->[0] $k->[1]: 403");
    }
    my $r = call('owner', 'POST', "/rooms/$room/bans/$m2");
    is $r->{status}, 204, "$kind: the owner bans a moderator";
    $r = call('admin', 'DELETE', "/rooms/$room/bans/$m2");
    is $r->{status}, 204, "$kind: a JWT admin unbans";
    is_api_error(call('owner', 'POST', "/rooms/$room/bans/$who{owner}"),
                 403, 'forbidden', "$kind: nobody bans oneself");
}

# ---- REST: a direct-message room has no moderation, for anybody
{
    my ($a, $b) = sort $who{owner}, $who{member};
    api($ng, 'GET', '/rooms', token => $tok{$_}) for qw(owner member);
    wait_until(sub { q1("select count(*) from chat_users where user_id in"
                        . " ('$a', '$b')") eq '2' });
    my $dm = call('owner', 'POST', "/dm/$who{member}")->{json}{room};
    is $dm, "dm:$a:$b", 'a DM';
    for my $role (@roles) {
        for my $k (['DELETE', "/rooms/$dm/members/$who{member}"],
                   ['POST', "/rooms/$dm/bans/$who{member}"],
                   ['POST', "/rooms/$dm/mutes/$who{owner}"],
                   ['PUT', "/rooms/$dm/members/$who{nonmember}"],
                   ['PATCH', "/rooms/$dm", { name => 'x' }]) {
            my $tgt = $k->[1] =~ m{/$who{$role}$} ? 1 : 0;
            next if $tgt;
            is_api_error(call($role, $k->[0], $k->[1], $k->[2]), 403,
                         'forbidden', "dm: $role $k->[0] $k->[1]: 403");
        }
    }
}

# ---- WebSocket: join, send, history, read, typing per role and room
{
    my $pub = make_room(0);
    my $priv = make_room(1);
    my %c = map { $_ => login($ng, $who{$_}, token => $tok{$_}) } @roles;
    my ($a, $b) = sort $who{owner}, $who{member};
    my $dm = "dm:$a:$b";
    my %open = (
        $pub => { map { $_ => 1 } @roles },
        $priv => { map { $_ => 1 } qw(member moderator owner) },
        $dm => { owner => 1, member => 1 },
    );
    for my $room ($pub, $priv, $dm) {
        my $kind = $room eq $pub ? 'public' : $room eq $priv ? 'private' : 'dm';
        for my $role (@roles) {
            my $c = $c{$role};
            my $want = $open{$room}{$role} ? 'ok' : 'forbidden';
            for my $req ({ type => 'join', room => $room },
                         { type => 'send', room => $room, body => "$role" },
                         { type => 'history', room => $room },
                         { type => 'read', room => $room, seq => 1 },
                         { type => 'typing', room => $room }) {
                next if $req->{type} eq 'typing' && $want ne 'ok';
                my $r = $c->request($req, 10);
                my $got = $r ? ($r->{type} eq 'ok' ? 'ok' : $r->{code}) : '-';
                is $got, $want, "ws $kind: $role $req->{type}: $want";
            }
        }
    }

    # banned: everything forbidden; unbanned: open again
    my $u = $c{member};
    is call('owner', 'POST', "/rooms/$pub/bans/$who{member}",
            { reason => 'test' })->{status}, 204, 'ban the member';
    ok $u->wait_for(sub { ($_->{type} // '') eq 'member'
                          && $_->{action} eq 'banned' }, 5),
        'the banned member gets member banned';
    for my $req ({ type => 'join', room => $pub },
                 { type => 'send', room => $pub, body => 'x' },
                 { type => 'history', room => $pub },
                 { type => 'read', room => $pub, seq => 1 },
                 { type => 'typing', room => $pub }) {
        my $r = $u->request($req, 10);
        is $r && $r->{code}, 'forbidden', "banned: $req->{type}: forbidden";
    }
    is_api_error(api($ng, 'GET', "/rooms/$pub/messages", token => $tok{member}),
                 403, 'forbidden', 'banned: REST history: 403');
    is_api_error(api($ng, 'POST', "/rooms/$pub/messages",
                     token => $tok{member}, json => { body => 'x' }),
                 403, 'forbidden', 'banned: REST send: 403');
    is_api_error(api($ng, 'GET', "/rooms/$pub/members", token => $tok{member}),
                 403, 'forbidden', 'banned: the members list: 403');
    is call('moderator', 'DELETE', "/rooms/$pub/bans/$who{member}")->{status},
        204, 'unban';
    is $u->request({ type => 'join', room => $pub })->{type}, 'ok',
        'unbanned: join again';

    # a ban that ran out is no ban
    call('owner', 'POST', "/rooms/$pub/bans/$who{member}",
         { until => time * 1000 - 1000 });
    is $u->request({ type => 'send', room => $pub, body => 'y' })->{type},
        'ok', 'a ban whose until has passed: send ok';
    # that ban ended the membership as any ban does: join again
    is $u->request({ type => 'join', room => $pub })->{type}, 'ok',
        '... and join';

    # muted: reads, but no send, no typing; unmuted: both again
    my $until = (time + 3600) * 1000;
    is call('moderator', 'POST', "/rooms/$pub/mutes/$who{member}",
            { until => $until })->{status}, 204, 'mute the member';
    my $ev = $u->wait_for(sub { ($_->{type} // '') eq 'member'
                                && $_->{action} eq 'muted' }, 5);
    is $ev && $ev->{until}, $until, 'member muted, with until';
    is $u->request({ type => 'send', room => $pub, body => 'x' })->{code},
        'forbidden', 'muted: send forbidden';
    is $u->request({ type => 'typing', room => $pub })->{code}, 'forbidden',
        'muted: typing forbidden';
    is_api_error(api($ng, 'POST', "/rooms/$pub/messages",
                     token => $tok{member}, json => { body => 'x' }),
                 403, 'forbidden', 'muted: REST send: 403');
    is $u->request({ type => 'history', room => $pub })->{type}, 'ok',
        'muted: history ok';
    is $u->request({ type => 'read', room => $pub, seq => 1 })->{type}, 'ok',
        'muted: read ok';
    my $ms = call('member', 'GET', "/rooms/$pub/members");
    my ($me) = grep { $_->{user} eq $who{member} } @{ $ms->{json}{members} };
    is $me->{muted_until}, $until, 'GET members shows muted_until';
    # a muted user who joins on a new connection is muted there too
    my $u2 = login($ng, $who{member}, token => $tok{member});
    $u2->request({ type => 'join', room => $pub });
    is $u2->request({ type => 'typing', room => $pub })->{code}, 'forbidden',
        'muted: typing forbidden on a connection joined after the mute';
    is call('owner', 'DELETE', "/rooms/$pub/mutes/$who{member}")->{status},
        204, 'unmute';
    ok $u->wait_for(sub { ($_->{type} // '') eq 'member'
                          && $_->{action} eq 'unmuted' }, 5), 'member unmuted';
    is $u->request({ type => 'typing', room => $pub })->{type}, 'ok',
        'unmuted: typing ok';
    is $u->request({ type => 'send', room => $pub, body => 'z' })->{type},
        'ok', 'unmuted: send ok';

    # JWT admins act as owner, but reading a private room needs
    # membership: they add themselves
    is $c{admin}->request({ type => 'join', room => $priv })->{code},
        'forbidden', 'a JWT admin who is no member: private join forbidden';
    is call('admin', 'PUT', "/rooms/$priv/members/$who{admin}")->{status},
        200, 'the admin adds themself';
    is $c{admin}->request({ type => 'join', room => $priv })->{type}, 'ok',
        '... and joins';
}

# ---- every action is logged: who, whom, where
my $log = $ng->error_log;
like $log, qr/user "$who{owner}" changed room "[^"]+": .*"action":"banned"/,
    'moderation is logged with who, where, and the event (whom, what)';

is_deeply [$ng->crashes], [], 'no worker crashed';
done_testing;
