# Edits and deletes as durable room events across workers and hosts
# (protocol.md 5, 5a): two nginx instances of two workers each, on the
# same Redis and PostgreSQL.  Messages, edits and deletes made on both
# instances, over WebSocket and REST, reach every joined connection on
# both in rev order, each once, with no gap.  A client away meanwhile
# rejoins on the other instance with since_rev and, applying what it is
# sent, holds an exact copy of the room as history shows it; nothing it
# is sent carries a deleted body, which is gone from PostgreSQL and
# search.  join with since shows the current state of each message.
# Edits of one message from both hosts at once take one commit order.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my @ng = map { start_nginx(workers => 2, listen => 'reuseport') } 1 .. 2;
my $room = rand_room('editc');
# member events count: a user's first join is one (protocol.md 5)
my %durable = map { $_ => 1 } qw(message edited deleted member);

sub take_durable {
    my ($c) = @_;
    my (@d, @rest);
    for (@{ $c->{queue} }) {
        if ($durable{ $_->{type} // '' } && ($_->{room} // '') eq $room) {
            push @d, $_;
        } else {
            push @rest, $_;
        }
    }
    @{ $c->{queue} } = @rest;
    return @d;
}

# join (with %a), returns (events before the reply, reply)
sub join_room {
    my ($c, %a) = @_;
    my ($f, $reply) = $c->join_replay($room, \%a, 15);
    return ([grep { $durable{ $_->{type} // '' } } @$f], $reply);
}

# a client's copy of the room: seq -> {body, deleted, edited_at}
sub apply_events {
    my ($copy, @ev) = @_;
    for my $e (@ev) {
        next if $e->{type} eq 'member';
        my $m = $copy->{ $e->{seq} } //= {};
        if ($e->{type} eq 'message') {
            %$m = (body => $e->{body}, deleted => $e->{deleted} ? 1 : 0,
                   edited_at => $e->{edited_at});
        } elsif ($e->{type} eq 'edited') {
            @$m{qw(body edited_at)} = @$e{qw(body edited_at)}
                unless $e->{deleted};
        } else {
            %$m = (deleted => 1, body => undef, edited_at => $m->{edited_at});
        }
    }
    return $copy;
}

sub history_copy {
    my $r = api($ng[0], 'GET', "/rooms/$room/messages?limit=200",
                user => 'alice');
    return { map { $_->{seq} => { body => $_->{body},
                                  deleted => $_->{deleted} ? 1 : 0,
                                  edited_at => $_->{edited_at} } }
             @{ $r->{json}{messages} // [] } };
}

my $alice = login($ng[0], 'alice');
my $alice1 = login($ng[1], 'alice');
my $mod = token(sub => 'mod', roles => ['moderator']);

# receivers: on each instance, at least three and until both of its
# workers hold some (reuseport spreads them)
my @rcv;
for my $k (0, 1) {
    my @mine = spread_clients($ng[$k], 3, sub {
        my $c = login($ng[$k], 'r' . scalar(@rcv) . "-$k");
        my (undef, $reply) = join_room($c);
        die 'join failed' unless $reply && $reply->{type} eq 'ok';
        push @rcv, { c => $c, on => $k, from => $reply->{rev} };
        $c;
    });
    my %workers = map { $_ => 1 } grep { defined } worker_of($ng[$k], @mine);
    is scalar(keys %workers), 2,
        'receivers on both workers of instance ' . ($k + 1);
}

# alice and the client that will be away become members first: the
# revs from $base on are the messages, edits and deletes alone
join_room($alice);
my $away = login($ng[0], 'away');
my (undef, $away_join) = join_room($away);
my $base = $away_join->{rev};

my @acks = $alice->pipeline([map { { type => 'send', room => $room,
                                     body => "m$_ plain" } } 1 .. 10], 10);
is scalar(grep { $_ && $_->{type} eq 'ok' } @acks), 10, '10 messages sent';
my @seen = $away->wait_messages($room, 10, 10);
is scalar(@seen), 10, 'the away client saw them';
my $away_rev = $seen[-1]{rev};
my $away_copy = apply_events({}, @seen);
close_all($away);

# while it is away: edits and deletes from both instances, both ways
my @changes = (
    [ws0 => edit => 1, 'm1 edited once'],
    [rest1 => edit => 2, 'm2 edited on the other host'],
    [ws1 => edit => 1, 'm1 edited twice'],
    [ws0 => delete => 3],
    [rest1 => edit => 4, 'm4 secretword-' . $$],
    [rest0 => delete => 4, undef, $mod],
    [ws1 => delete => 5],
    [ws0 => edit => 6, 'm6 edited'],
);
my @sent = map { $_->{seq} } @acks;
for my $ch (@changes) {
    my ($how, $action, $n, $body, $tok) = @$ch;
    my $seq = $sent[$n - 1];
    if ($how =~ /^ws(\d)/) {
        my $c = $1 ? $alice1 : $alice;
        my $r = $c->request({ type => $action, room => $room, seq => $seq,
                              defined $body ? (body => $body) : () }, 10);
        is $r && $r->{type}, 'ok', "$how: $action of seq $seq";
    } else {
        my $ng = $ng[substr($how, -1)];
        my $r = api($ng, $action eq 'edit' ? 'PATCH' : 'DELETE',
                    "/rooms/$room/messages/$seq",
                    $tok ? (token => $tok) : (user => 'alice'),
                    defined $body ? (json => { body => $body }) : ());
        is $r->{status}, $action eq 'edit' ? 200 : 204,
            "$how: $action of seq $seq";
    }
}
# and more messages after them
$alice1->pipeline([map { { type => 'send', room => $room,
                           body => "m$_ late" } } 11 .. 12], 10);

my $last_rev = $base + 10 + @changes + 2;

# every receiver: every durable event once, in rev order, no gap
for my $i (0 .. $#rcv) {
    my $c = $rcv[$i]{c};
    my @got;
    run_loop(sub { push @got, take_durable($c);
                   @got && $got[-1]{rev} >= $last_rev }, 10);
    is_deeply [map { $_->{rev} } @got], [$rcv[$i]{from} + 1 .. $last_rev],
        "receiver $i (instance " . ($rcv[$i]{on} + 1) . "): every rev after "
        . "its join to $last_rev in order, once each";
    @got = grep { $_->{type} ne 'member' } @got;
    is_deeply [map { $_->{type} } @got[10 .. 10 + $#changes]],
        [map { $_->[1] eq 'edit' ? 'edited' : 'deleted' } @changes],
        '... the edits and deletes where they were made';
    my $e = $got[10];
    is_deeply [sort keys %$e], [sort qw(type room seq rev body edited_at by)],
        '... an edited event has room, seq, rev, body, edited_at, by'
        if $i == 0;
    my ($d) = grep { $_->{type} eq 'deleted' } @got;
    is_deeply [sort keys %$d], [sort qw(type room seq rev by)],
        '... a deleted event has room, seq, rev, by' if $i == 0;
    my ($md) = grep { $_->{type} eq 'deleted' && $_->{seq} == $sent[3] } @got;
    is $md && $md->{by}, 'mod', '... by names who deleted' if $i == 0;
}

# the away client rejoins on the other instance with since_rev
my $back = login($ng[1], 'away');
my ($replay, $reply) = join_room($back, since_rev => $away_rev);
ok $reply && $reply->{type} eq 'ok', 'it rejoins with since_rev';
is_deeply [map { $_->{rev} } @$replay], [$away_rev + 1 .. $last_rev],
    'the replay is every later rev, once each, in order';
apply_events($away_copy, @$replay);
is_deeply $away_copy, history_copy(),
    'its copy of the room is exactly what history shows';
my $secret = 'secretword-' . $$;
is scalar(grep { index(Mojo::JSON::encode_json($_), $secret) >= 0 } @$replay),
    0, 'no replayed event carries the deleted body';

# a client new to the room replays all of it from rev 0
my $fresh = login($ng[0], 'fresh');
($replay) = join_room($fresh, since_rev => 0);
# its own joined event ends the replay (protocol.md 5: the reply's rev
# covers it)
is_deeply [map { $_->{rev} } @$replay], [1 .. $last_rev + 1],
    'since_rev 0 replays every rev';
is $replay->[-1]{type} . ' ' . $replay->[-1]{action}, 'member joined',
    '... the last its own joining';
is_deeply apply_events({}, @$replay), history_copy(),
    '... and ends with the same copy';
is scalar(grep { index(Mojo::JSON::encode_json($_), $secret) >= 0 } @$replay),
    0, '... without the deleted body';
my ($m4) = grep { $_->{type} eq 'message' && $_->{seq} == $sent[3] } @$replay;
ok $m4 && $m4->{deleted} && !exists $m4->{body},
    'the deleted message is replayed in its place as deleted, without body';
my ($e4) = grep { $_->{type} eq 'edited' && $_->{seq} == $sent[3] } @$replay;
ok $e4 && $e4->{deleted} && !exists $e4->{body},
    'its earlier edit is replayed without its body';

# join with since: messages in their current state
my $since = login($ng[1], 'since');
($replay) = join_room($since, since => 0);
my %by_seq = map { $_->{seq} => $_ } @$replay;
is $by_seq{ $sent[0] }{body}, 'm1 edited twice',
    'since: an edited message with its current body';
ok $by_seq{ $sent[0] }{edited_at}, '... and edited_at';
ok $by_seq{ $sent[2] }{deleted} && !exists $by_seq{ $sent[2] }{body},
    '... a deleted one as deleted without body';
is scalar(grep { $_->{type} ne 'message' } @$replay), 0,
    '... and only message events';

# history: the rev of each entry's latest change
my $h = api($ng[1], 'GET', "/rooms/$room/messages", user => 'alice');
my %hs = map { $_->{seq} => $_ } @{ $h->{json}{messages} };
is $hs{ $sent[0] }{rev}, $base + 13, 'history: an entry\'s rev is its latest change';
is $hs{ $sent[9] }{rev}, $base + 10, '... and an unchanged one keeps its own';

# the deleted body is gone from storage, not hidden
my $pg = ChatTest::backends()->{conninfo};
is psql($pg, "select count(*) from messages where room_id = '$room'"
             . " and (body like '%$secret%' or meta::text like '%$secret%')"),
    0, 'PostgreSQL: no message row holds the deleted body';
is psql($pg, "select count(*) from chat_room_events where room_id = '$room'"
             . " and event::text like '%$secret%'"), 0,
    'PostgreSQL: no stored event holds it';
is psql($pg, "select count(*) from messages where room_id = '$room'"
             . " and deleted and (body is not null or meta is not null)"), 0,
    'PostgreSQL: deleted messages have neither body nor meta';
is psql($pg, "select count(*) from messages where room_id = '$room'"
             . " and to_tsvector('simple', body) @@ "
             . "plainto_tsquery('simple', '$secret')"), 0,
    'PostgreSQL: the search index finds nothing of it';
my $s = api($ng[0], 'GET', "/search?q=$secret", user => 'alice');
is_deeply $s->{json} && $s->{json}{messages}, [],
    'GET /search finds nothing of it';

# edits of one message from both hosts at once: one commit order
{
    my $r2 = rand_room('editrace');
    my @w = map { login($ng[$_], "w$_") } 0, 1;
    for my $c (@w) {
        my $id = next_id();
        $c->send_json({ type => 'join', room => $r2, id => $id });
        $c->wait_for(sub { ($_->{id} // '') eq $id }, 10);
    }
    my $sent = $alice->request({ type => 'send', room => $r2,
                                 body => 'race' });
    my ($seq, $m) = @$sent{qw(seq rev)};
    my @ids = map { my $k = $_;
                    [map { "race-$k-$_" } 1 .. 20] } 0, 1;
    for my $i (0 .. 19) {
        for my $k (0, 1) {
            ($k ? $alice1 : $alice)->send_json(
                { type => 'edit', room => $r2, seq => $seq,
                  id => $ids[$k][$i], body => "edit $k.$i" });
        }
    }
    my @replies = map { [$_ ? $alice1->collect_replies($ids[1], 10)
                            : $alice->collect_replies($ids[0], 10)] } 0, 1;
    my %revs;
    $revs{ $_->{rev} // 0 }++ for map { @$_ } @replies;
    is_deeply [sort { $a <=> $b } keys %revs], [$m + 1 .. $m + 40],
        '40 edits from two hosts at once: the next 40 revs, one each';
    for my $k (0, 1) {
        is_deeply [map { $_->{rev} } @{ $replies[$k] }],
            [sort { $a <=> $b } map { $_->{rev} } @{ $replies[$k] }],
            "... a connection's edits commit in the order it made them";
    }
    for my $k (0, 1) {
        my @got;
        my $c = $w[$k];
        run_loop(sub {
            push @got, grep { ($_->{room} // '') eq $r2
                              && ($_->{type} // '') =~ /^(message|edited)$/ }
                       splice @{ $c->{queue} };
            @got && $got[-1]{rev} >= $m + 40 }, 10);
        is_deeply [map { $_->{rev} } @got], [$m .. $m + 40],
            "a receiver on instance " . ($k + 1)
            . ": the message and its 40 edits in rev order";
        my %by_rev = map { $_->{rev} => $_ } @got;
        my ($last) = grep { $_->{rev} == $m + 40 } map { @$_ } @replies;
        is $by_rev{ $m + 40 }{body}, $last && $last->{id} =~ /race-(\d)-(\d+)/
                               ? "edit $1." . ($2 - 1) : 'none',
            '... and the edit with the last rev is the last it sees';
    }
    my $h = api($ng[1], 'GET', "/rooms/$r2/messages", user => 'alice');
    my ($e) = @{ $h->{json}{messages} };
    my ($last) = grep { $_->{rev} == $m + 40 } map { @$_ } @replies;
    is $e && $e->{rev}, $m + 40, 'history: the message has its last edit\'s rev';
    is $e && $e->{body}, $last && $last->{id} =~ /race-(\d)-(\d+)/
                         ? "edit $1." . ($2 - 1) : 'none',
        '... and the body of the edit committed last';
    close_all(@w);
}

close_all($alice, $alice1, (map { $_->{c} } @rcv), $back, $fresh, $since);
done_testing;
