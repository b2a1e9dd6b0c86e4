# Edit and delete (protocol.md sections 4 and 9), over WebSocket and REST
# alike: who may edit and delete which message in public, private and
# direct-message rooms (sender, other member, room moderator, owner, JWT
# admin, JWT moderator, muted, banned), the replies (rev, edited_at),
# conflict on editing a deleted message, ok on deleting it again,
# not_found, too_large, and the bad_request of chat_store redis.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $ng = start_nginx(workers => 2, listen => 'reuseport', server => q{
        location /chat/ws-redis {
            chat_ws;
            chat_store redis;
        }
        location /chat/api-redis/ {
            chat_api;
            chat_store redis;
        }});
my $b = ChatTest::backends();
my $pg = 'host=127.0.0.1 port=' . $b->{pg_port} . ' dbname=chat user=chat';

my %roles = (jadm => 'admin', jmod => 'moderator');
my %ws;

sub tok { my $u = shift; token(sub => $u, $roles{$u} ? (roles => [$roles{$u}]) : ()) }

sub ws_of {
    my $u = shift;
    $ws{$u} //= login($ng, $u, token => tok($u));
    return $ws{$u};
}

sub send_msg {
    my ($room, $user, $body) = @_;
    my $r = api($ng, 'POST', "/rooms/$room/messages", token => tok($user),
                json => { body => $body });
    die "send to $room as $user: $r->{status} $r->{body}" if $r->{status} != 201;
    return $r->{json}{seq};
}

# act($transport, $action, $user, $room, $seq, $body): (code, reply)
# where code is "ok" or the error code
sub act {
    my ($tr, $action, $user, $room, $seq, $body) = @_;
    if ($tr eq 'ws') {
        my $r = ws_of($user)->request({ type => $action, room => $room,
                                        seq => $seq,
                                        defined $body ? (body => $body) : () },
                                      10);
        return ('timeout', undef) unless $r;
        return ($r->{type} eq 'ok' ? 'ok' : $r->{code}, $r);
    }
    my $r = api($ng, $action eq 'edit' ? 'PATCH' : 'DELETE',
                "/rooms/$room/messages/$seq", token => tok($user),
                $action eq 'edit' ? (json => { body => $body }) : ());
    my $want = $action eq 'edit' ? 200 : 204;
    return ('ok', $r->{json} // {}) if $r->{status} == $want;
    return ($r->{json} && $r->{json}{error} ? $r->{json}{error}{code}
                                            : "HTTP $r->{status}", $r->{json});
}

# the rooms: owner "own", moderators "rmod" and "rmod2", members "snd",
# "oth", "mut" (muted) and "ban" (banned); "jadm" and "jmod" are not
# members; "out" is nobody
my $tag = $$ . int(rand(1e6));
my %room = (public => "pub-$tag", private => "priv-$tag");

for my $kind (qw(public private)) {
    my $r = api($ng, 'POST', '/rooms', token => tok('own'),
                json => { room => $room{$kind},
                          private => $kind eq 'private' ? \1 : \0 });
    is $r->{status}, 201, "the $kind room is created by its owner";
    my $id = $room{$kind};
    psql($pg, "insert into members (room_id, user_id, role) values"
              . " ('$id', 'snd', 'member'), ('$id', 'oth', 'member'),"
              . " ('$id', 'rmod', 'moderator'), ('$id', 'rmod2', 'moderator'),"
              . " ('$id', 'mut', 'member'), ('$id', 'ban', 'member')");
}

# the matrix: [action, actor, author of the message, expected] per room
my @channel = (
    [edit => snd => snd => 'ok'],
    [edit => oth => snd => 'forbidden'],
    [edit => rmod => snd => 'forbidden'],
    [edit => own => snd => 'forbidden'],
    [edit => jadm => snd => 'forbidden'],
    [edit => jmod => snd => 'forbidden'],
    [edit => mut => mut => 'forbidden'],
    [edit => ban => ban => 'forbidden'],
    [delete => snd => snd => 'ok'],
    [delete => oth => snd => 'forbidden'],
    [delete => mut => mut => 'ok'],
    [delete => ban => ban => 'forbidden'],
    [delete => rmod => snd => 'ok'],
    [delete => rmod => own => 'forbidden'],
    [delete => rmod => rmod2 => 'forbidden'],
    [delete => jmod => snd => 'ok'],
    [delete => jmod => own => 'forbidden'],
    [delete => jmod => rmod => 'forbidden'],
    [delete => own => rmod => 'ok'],
    [delete => own => snd => 'ok'],
    [delete => jadm => own => 'ok'],
    [delete => jadm => rmod => 'ok'],
);
my %extra = (
    public => [[edit => out => snd => 'forbidden'],
               [delete => out => snd => 'forbidden']],
    private => [[edit => out => snd => 'forbidden'],
                [delete => out => snd => 'forbidden']],
);

for my $tr (qw(ws rest)) {
    for my $kind (qw(public private)) {
        my $id = $room{$kind};
        # mute and ban lifted while their messages are sent, then set
        psql($pg, "delete from chat_room_mutes where room_id = '$id';"
                  . " delete from chat_room_bans where room_id = '$id'");
        my @cases = map { [@$_, send_msg($id, $_->[2], "$tr $kind $_->[0] "
                                         . "by $_->[1] of $_->[2]")] }
                    @channel, @{ $extra{$kind} };
        psql($pg, "insert into chat_room_mutes (room_id, user_id, by_user, at)"
                  . " values ('$id', 'mut', 'own', 0);"
                  . " insert into chat_room_bans (room_id, user_id, by_user, at)"
                  . " values ('$id', 'ban', 'own', 0)");
        for my $c (@cases) {
            my ($action, $user, $author, $want, $seq) = @$c;
            my ($got, $reply) = act($tr, $action, $user, $id, $seq,
                                    "edited by $user");
            is $got, $want, "$tr, $kind room: $action by $user of ${author}'s "
                            . "message: $want";
            if ($want eq 'ok' && $tr eq 'ws') {
                ok $reply->{rev} && $reply->{rev} > $seq,
                    '... the reply carries the event\'s rev';
                ok $reply->{edited_at}, '... and edited_at'
                    if $action eq 'edit';
            }
            if ($want eq 'ok' && $tr eq 'rest' && $action eq 'edit') {
                ok $reply->{rev} && $reply->{edited_at},
                    '... 200 with rev and edited_at';
            }
        }
    }
}

# a temporary mute or ban that has run out no longer counts
{
    my $id = $room{public};
    my $seq = send_msg($id, 'snd', 'mute runs out');
    psql($pg, "insert into chat_room_mutes (room_id, user_id, by_user, at, until)"
              . " values ('$id', 'snd', 'own', 0, 1000)");
    my ($got) = act('ws', 'edit', 'snd', $id, $seq, 'after the mute');
    is $got, 'ok', 'a mute whose until has passed: the edit is ok';
    psql($pg, "update chat_room_mutes set until = "
              . "(extract(epoch from now()) * 1000 + 60000)::bigint"
              . " where room_id = '$id' and user_id = 'snd'");
    ($got) = act('rest', 'edit', 'snd', $id, $seq, 'during the mute');
    is $got, 'forbidden', 'a mute until a later time: forbidden';
    psql($pg, "delete from chat_room_mutes where room_id = '$id'"
              . " and user_id = 'snd'");
}

# direct messages: only the two users, and only the sender edits
{
    my $dm = 'dm:dma' . $tag . ':dmb' . $tag;
    my ($a, $bb) = ("dma$tag", "dmb$tag");
    for my $tr (qw(ws rest)) {
        my @cases = ([edit => $a => 'ok'], [edit => $bb => 'forbidden'],
                     [delete => $bb => 'forbidden'],
                     [delete => 'jadm' => 'forbidden'],
                     [edit => 'jadm' => 'forbidden'],
                     [delete => $a => 'ok']);
        for my $c (@cases) {
            my ($action, $user, $want) = @$c;
            my $seq = send_msg($dm, $a, "dm $tr $action by $user");
            my ($got) = act($tr, $action, $user, $dm, $seq, "dm edited");
            is $got, $want, "$tr, DM: $action by "
                            . ($user eq $a ? 'the sender' : $user) . ": $want";
        }
    }
}

# the rules around them
for my $tr (qw(ws rest)) {
    my $id = $room{public};
    my $seq = send_msg($id, 'snd', "rules $tr");
    my ($got, $r1) = act($tr, 'edit', 'snd', $id, $seq, 'first edit');
    is $got, 'ok', "$tr: an edit";
    ($got) = act($tr, 'edit', 'snd', $id, $seq, 'x' x 2049);
    is $got, 'too_large', "$tr: an edit longer than chat_message_max: "
                          . "too_large";
    ($got) = act($tr, 'edit', 'snd', $id, $seq, '');
    is $got, 'bad_request', "$tr: an empty body: bad_request";
    ($got, my $d1) = act($tr, 'delete', 'snd', $id, $seq);
    is $got, 'ok', "$tr: a delete";
    ($got, my $d2) = act($tr, 'delete', 'snd', $id, $seq);
    is $got, 'ok', "$tr: deleting it again is ok";
    is $d2->{rev}, $d1->{rev}, "... with the same rev (nothing new)"
        if $tr eq 'ws';
    ($got) = act($tr, 'edit', 'snd', $id, $seq, 'too late');
    is $got, 'conflict', "$tr: editing a deleted message: conflict";
    ($got) = act($tr, 'delete', 'oth', $id, $seq);
    is $got, 'forbidden', "$tr: another member deleting it: still forbidden";
    ($got) = act($tr, 'edit', 'snd', $id, 999999, 'nothing');
    is $got, 'not_found', "$tr: no such seq: not_found";
    ($got) = act($tr, 'delete', 'snd', $id, 999999);
    is $got, 'not_found', "$tr: delete of no such seq: not_found";
    ($got) = act($tr, 'delete', 'snd', "nosuch-$tag", 1);
    is $got, 'not_found', "$tr: no such room: not_found";
    ($got) = act($tr, 'delete', 'out', $room{private}, 1);
    is $got, 'forbidden', "$tr: a stranger to a private room learns "
                          . "nothing: forbidden";
}

# the WebSocket frame is checked as any request
{
    my $c = ws_of('snd');
    my $r = $c->request({ type => 'edit', room => $room{public}, seq => 1 });
    is $r && $r->{code}, 'bad_request', 'edit without body: bad_request';
    $r = $c->request({ type => 'delete', room => $room{public} });
    is $r && $r->{code}, 'bad_request', 'delete without seq: bad_request';
    my $x = api($ng, 'PATCH', "/rooms/$room{public}/messages/1",
                token => tok('snd'), json => { text => 'x' });
    is_api_error $x, 400, 'bad_request', 'PATCH without body: 400';
    $x = api($ng, 'PATCH', "/rooms/$room{public}/messages/0",
             token => tok('snd'), json => { body => 'x' });
    is_api_error $x, 400, 'bad_request', 'PATCH of seq 0: 400';
}

# chat_store redis keeps no messages: nothing to edit or delete
{
    my $c = login($ng->ws_url . '-redis', 'snd');
    my $r = $c->request({ type => 'edit', room => 'r-' . $tag, seq => 1,
                          body => 'x' });
    is $r && $r->{code}, 'bad_request', 'chat_store redis: edit is bad_request';
    $r = $c->request({ type => 'delete', room => 'r-' . $tag, seq => 1 });
    is $r && $r->{code}, 'bad_request', '... and delete';
    my $x = http_request('DELETE', $ng->url . "/chat/api-redis/rooms/r-$tag"
                         . '/messages/1',
                         headers => { Authorization => 'Bearer ' . tok('snd') });
    is_api_error $x, 400, 'bad_request', '... and over REST';
    close_all($c);
}

close_all(values %ws);
done_testing;
