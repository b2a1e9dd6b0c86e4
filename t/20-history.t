# The WebSocket `history` request (protocol.md section 4, docs/protocol.md
# "history" and "Access"): paging back with before, forward with after,
# both together, limits, bad arguments, access, and the shape of entries.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Mojo::JSON qw(true);
use ChatTest;

# every WebSocket client, closed before nginx stops
my @open;
sub track { push @open, @_; return $_[0] }

my $ng = start_nginx();
my $room = rand_room('hist');

my $alice = track login($ng, 'alice', claims => { name => 'Alice A' });
my $bob = track login($ng, 'bob');

is $bob->request({ type => 'join', room => $room })->{type}, 'ok',
    'bob joins the room';

# 120 messages; every tenth with a client_msg_id, #7 with reply_to and meta
my @sends = map {
    my %m = (type => 'send', room => $room, body => "m$_");
    $m{client_msg_id} = "cid-$_" if $_ % 10 == 0;
    if ($_ == 7) {
        $m{reply_to} = 3;
        $m{meta} = { k => 'v', n => [1, 2], o => { x => undef } };
    }
    \%m;
} 1 .. 120;
my @acks = $alice->pipeline(\@sends, 10);
is_deeply [map { $_ && $_->{seq} } @acks], [1 .. 120],
    '120 sends acked with seq 1..120';
my @events = $bob->wait_messages($room, 120, 10);
is_deeply [map { $_->{seq} } @events], [1 .. 120],
    'the joined connection got the 120 message events';
my %event = map { $_->{seq} => $_ } @events;

sub hist {
    my ($c, %a) = @_;
    return $c->request({ type => 'history', room => $room, %a }, 10);
}

sub seqs { [map { $_->{seq} } @{ $_[0] && $_[0]{messages} || [] }] }

# has_more must be a JSON boolean with the given truth
sub is_bool {
    my ($v, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    ok defined($v) && ref($v) =~ /Boolean/ && (!!$v eq !!$want), $name
        or diag 'got ' . (defined $v ? "$v (" . ref($v) . ')' : 'undef');
}

# one page: reply type, room, seqs, has_more
sub page_is {
    my ($r, $seqs, $more, $name, $in) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is $r && $r->{type}, 'ok', "$name: ok" or diag explain $r;
    is $r && $r->{room}, $in // $room, "$name: room";
    is_deeply seqs($r), $seqs, "$name: seqs "
        . (@$seqs ? "$seqs->[0]..$seqs->[-1]" : 'none');
    is_bool $r && $r->{has_more}, $more,
        "$name: has_more " . ($more ? 'true' : 'false');
}

# ---- paging back with before
my @all;
{
    my $p1 = hist($bob, limit => 50);
    page_is $p1, [71 .. 120], 1, 'newest page (limit 50)';
    my $p2 = hist($bob, limit => 50, before => $p1->{messages}[0]{seq});
    page_is $p2, [21 .. 70], 1, 'before = first seq of that page';
    my $p3 = hist($bob, limit => 50, before => $p2->{messages}[0]{seq});
    page_is $p3, [1 .. 20], 0, 'last page back: 20, has_more false';
    @all = map { @{ $_->{messages} } } $p3, $p2, $p1;
    is_deeply [map { $_->{seq} } @all], [1 .. 120],
        'the three pages are contiguous and ascending: 1..120';
}

# ---- entries: the message event without type
{
    my $same = 0;
    for my $e (@all) {
        my %ev = %{ $event{ $e->{seq} } };
        delete $ev{type};
        $same++ if eq_hash($e, \%ev);
    }
    is $same, 120, 'each history entry equals its message event minus type';
    ok !grep({ exists $_->{type} } @all), 'no entry has a type';
    ok !grep({ exists $_->{id} } @all), 'no entry has an id';
    my %e = map { $_->{seq} => $_ } @all;
    is_deeply [map { $e{$_}{msg_id} } 1 .. 120], [map { $_->{msg_id} } @acks],
        'msg_id as acked';
    is_deeply [map { $e{$_}{ts} } 1 .. 120], [map { $_->{ts} } @acks],
        'ts as acked';
    is_deeply [map { $e{$_}{body} } 1 .. 120], [map { "m$_" } 1 .. 120],
        'bodies';
    ok !grep({ ($_->{room} // '') ne $room } @all), 'room in every entry';
    ok !grep({ ($_->{from} // '') ne 'alice' } @all), 'from in every entry';
    ok !grep({ ($_->{name} // '') ne 'Alice A' } @all),
        'name (the token had one) in every entry';
    is_deeply [map { $_->{seq} } grep { exists $_->{client_msg_id} } @all],
        [map { $_ * 10 } 1 .. 12], 'client_msg_id only where one was given';
    is $e{30}{client_msg_id}, 'cid-30', 'client_msg_id value';
    is $e{7}{reply_to}, 3, 'reply_to';
    is_deeply $e{7}{meta}, { k => 'v', n => [1, 2], o => { x => undef } },
        'meta round-trips';
    is_deeply [map { $_->{seq} } grep { exists $_->{reply_to}
                                        || exists $_->{meta} } @all], [7],
        'reply_to and meta only where given';
    ok !grep({ exists $_->{deleted} && $_->{deleted} } @all),
        'nothing is marked deleted';

    # a sender without a name claim and with none of the optional fields
    my $r2 = rand_room('hist-plain');
    my $ok = $bob->request({ type => 'send', room => $r2, body => 'plain' });
    my $h = $bob->request({ type => 'history', room => $r2 });
    is_deeply seqs($h), [1], 'plain room: one entry';
    my $m = $h->{messages}[0] // {};
    is_deeply { map { $_ => $m->{$_} } grep { $_ ne 'deleted' } keys %$m },
        # rev 1 is bob's joined event: his first send made him a member
        { room => $r2, seq => 1, rev => 2, msg_id => $ok->{msg_id},
          from => 'bob', body => 'plain', ts => $ok->{ts} },
        'plain entry: room seq rev msg_id from body ts, no name, no '
        . 'optional fields';
}

# ---- paging forward with after
{
    my $p1 = hist($bob, after => 0, limit => 50);
    page_is $p1, [1 .. 50], 1, 'after 0 (limit 50)';
    my $p2 = hist($bob, after => $p1->{messages}[-1]{seq}, limit => 50);
    page_is $p2, [51 .. 100], 1, 'after = last seq of that page';
    my $p3 = hist($bob, after => $p2->{messages}[-1]{seq}, limit => 50);
    page_is $p3, [101 .. 120], 0, 'last page forward: 20, has_more false';
    page_is hist($bob, after => 120), [], 0, 'after the latest: empty';
    page_is hist($bob, after => 5000), [], 0, 'after beyond the latest: empty';
}

# ---- after and before together: the oldest limit in the range
{
    page_is hist($bob, after => 10, before => 20), [11 .. 19], 0,
        'after 10 before 20';
    page_is hist($bob, after => 10, before => 100, limit => 5), [11 .. 15], 1,
        'after 10 before 100 limit 5: more in the range';
    page_is hist($bob, after => 10, before => 16, limit => 5), [11 .. 15], 0,
        'after 10 before 16 limit 5: nothing more in the range';
    page_is hist($bob, after => 10, before => 17, limit => 5), [11 .. 15], 1,
        'after 10 before 17 limit 5: 16 is left';
    page_is hist($bob, after => 115, before => 1000), [116 .. 120], 0,
        'after 115 before 1000';
    page_is hist($bob, after => 20, before => 21), [], 0,
        'an empty range';
    page_is hist($bob, after => 0, before => 0), [], 0, 'after 0 before 0';
}

# ---- before alone, edges
{
    page_is hist($bob, before => 6, limit => 5), [1 .. 5], 0,
        'before 6 limit 5: exactly the first five';
    page_is hist($bob, before => 7, limit => 5), [2 .. 6], 1,
        'before 7 limit 5: 1 is left';
    page_is hist($bob, before => 1), [], 0, 'before 1: empty';
    page_is hist($bob, before => 0), [], 0, 'before 0: empty page';
    page_is hist($bob, before => 0, limit => 200), [], 0,
        'before 0 limit 200: empty page';
    page_is hist($bob, before => 1000, limit => 3), [118 .. 120], 1,
        'before beyond the latest';
}

# ---- limit
{
    page_is hist($bob), [71 .. 120], 1, 'default limit 50 (newest)';
    page_is hist($bob, after => 0), [1 .. 50], 1, 'default limit 50 (after)';
    page_is hist($bob, limit => 200), [1 .. 120], 0, 'limit 200 is allowed';
    page_is hist($bob, limit => 1), [120], 1, 'limit 1';
    page_is hist($bob, limit => 120), [1 .. 120], 0, 'limit = room size';
    page_is hist($bob, limit => 119), [2 .. 120], 1, 'limit = room size - 1';

    my @bad = ([limit => 0], [limit => 201], [limit => 'x'], [limit => -1],
               [limit => 1.5], [limit => '50'], [before => -1],
               [before => 'x'], [after => -1], [after => 'x'],
               [after => 2.5]);
    for my $b (@bad) {
        my $id = 'bad-' . next_id();
        my $r = $bob->request({ type => 'history', room => $room, id => $id,
                                $b->[0] => $b->[1] });
        ok $r && $r->{type} eq 'error' && ($r->{code} // '') eq 'bad_request'
            && $r->{id} eq $id,
            "$b->[0] " . Mojo::JSON::encode_json($b->[1])
            . ": bad_request with the id"
            or diag explain $r;
    }
    my $r = $bob->request({ type => 'history', id => 'noroom' });
    is $r && $r->{code}, 'bad_request', 'no room: bad_request';
    $r = $bob->request({ type => 'history', room => 'bad room', id => 'br' });
    is $r && $r->{code}, 'bad_request', 'invalid room id: bad_request';
}

# ---- access
{
    my $nope = rand_room('nope');
    my $r = hist($bob, room => $nope, id => 'nf');
    ok $r && $r->{type} eq 'error' && $r->{code} eq 'not_found'
        && $r->{id} eq 'nf', 'a room that does not exist: not_found'
        or diag explain $r;
    $r = hist($bob, room => $nope, after => 0);
    is $r && $r->{code}, 'not_found', '... also with after (nothing created)';

    # a dm of two other users
    my $tag = "h$$" . int(rand 1e6);
    my ($u1, $u2) = ("${tag}a", "${tag}b");
    my $dm = "dm:$u1:$u2";
    my $c1 = track login($ng, $u1);
    is $c1->request({ type => 'send', room => $dm, body => 'secret' })->{type},
        'ok', 'a dm with a message';
    page_is hist($c1, room => $dm), [1], 0, 'one of its users reads it', $dm;
    my $hx = $c1->request({ type => 'history', room => $dm })->{messages};
    is $hx && $hx->[0]{room}, $dm, 'entry room is the dm';
    $r = hist($bob, room => $dm, id => 'dmf');
    ok $r && $r->{type} eq 'error' && $r->{code} eq 'forbidden'
        && $r->{id} eq 'dmf', 'a dm of two other users: forbidden'
        or diag explain $r;
    $r = hist($bob, room => $dm, after => 0, limit => 200);
    is $r && $r->{code}, 'forbidden', '... with after too';
    for my $bad ("dm:$u2:$u1", "dm:$u1:$u1", "dm:$u1", "dm:$u1:$u2:x",
                 'dm:') {
        $r = hist($c1, room => $bad);
        is $r && $r->{code}, 'bad_request', "malformed dm id $bad: bad_request";
    }

    # a private room created over REST by another user
    my $priv = rand_room('priv');
    my $cr = api($ng, POST => '/rooms', user => $u1,
                 json => { room => $priv, private => true });
    is $cr->{status}, 201, 'POST /rooms private: 201';
    is $c1->request({ type => 'send', room => $priv, body => 'inside' })->{type},
        'ok', 'its owner sends to it';
    page_is hist($c1, room => $priv), [1], 0, 'its owner reads it', $priv;
    $r = hist($bob, room => $priv, id => 'pf');
    ok $r && $r->{type} eq 'error' && $r->{code} eq 'forbidden'
        && $r->{id} eq 'pf', 'a private room of others: forbidden'
        or diag explain $r;
    $r = hist($bob, room => $priv, before => 0);
    is $r && $r->{code}, 'forbidden', '... even for an empty page';
}

# ---- without id: no success reply; errors without id
{
    my $e = track login($ng, 'erin');
    $e->send_json({ type => 'history', room => $room });
    $e->send_json({ type => 'ping', id => 'p1' });
    my $f = $e->recv(5);
    is $f && $f->{type}, 'pong', 'history without id: the next frame is the '
        . 'pong of the following ping' or diag explain $f;
    is $f && $f->{id}, 'p1', 'pong id';
    $e->send_json({ type => 'history', room => $room, limit => 2,
                    id => 'h1' });
    $f = $e->recv(5);
    is $f && $f->{id}, 'h1', 'the next frame is the reply of a history '
        . 'with id' or diag explain $f;
    is_deeply seqs($f), [119, 120], '... with its page';
    $e->settle(0.3);
    is scalar(@{ $e->queue }), 0, 'nothing else came'
        or diag explain $e->queue;
    $e->send_json({ type => 'history', room => $room, limit => 0 });
    $f = $e->recv(5);
    ok $f && $f->{type} eq 'error' && $f->{code} eq 'bad_request'
        && !exists $f->{id}, 'a bad history without id: error without id'
        or diag explain $f;
    $e->send_json({ type => 'history', room => rand_room('nope') });
    $f = $e->recv(5);
    ok $f && $f->{type} eq 'error' && $f->{code} eq 'not_found'
        && !exists $f->{id}, 'not_found without id' or diag explain $f;
}

close_all(@open);
$ng->stop;
done_testing;
