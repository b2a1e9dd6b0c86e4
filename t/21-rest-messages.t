# REST messages (protocol.md section 7, docs/protocol.md "REST"):
# POST /rooms/{room}/messages is the same message as a WebSocket send
# (events on every worker, idempotency across both), GET pages as history,
# and the errors: 400, 401, 404, 405, 413, 503.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use Mojo::JSON qw(true false encode_json);
use ChatTest;

# every WebSocket client, closed before nginx stops
my @open;
sub track { push @open, @_; return $_[0] }

my $ng = start_nginx(workers => 2, listen => 'reuseport');
my $room = rand_room('rest');

# ---- watchers joined to the room, on both workers
my @w = spread_clients($ng, 6, sub {
    my $c = track login($ng, "watcher$_[0]");
    my $j = $c->request({ type => 'join', room => $room });
    die "join failed" unless $j && $j->{type} eq 'ok';
    $c;
});
my %workers = map { $_ => 1 } $ng->worker_pids;
my %used = map { defined $_ && $workers{$_} ? ($_ => 1) : () }
           worker_of($ng, @w);
SKIP: {
    skip 'ss shows no process owners', 1
        unless grep { defined } worker_of($ng, @w);
    is scalar(keys %used), 2,
        scalar(@w) . ' watchers joined, on both workers';
}

# the next `message` event of $room on every watcher; they must agree
sub next_event_all {
    my ($name) = @_;
    my @m;
    for my $c (@w) {
        my $m = $c->wait_for(sub { ($_->{type} // '') eq 'message'
                                   && $_->{room} eq $room }, 5);
        push @m, $m;
    }
    my $first = $m[0];
    my $same = grep { $_ && $first && eq_hash($_, $first) } @m;
    is $same, scalar(@w), "$name: every watcher got the same event"
        or diag explain [map { $_ && $_->{seq} } @m];
    return $first;
}

sub no_more_events {
    my ($name) = @_;
    $w[0]->settle(0.2);
    my @left = grep { scalar $_->take_messages($room) } @w;
    is scalar(@left), 0, "$name: no other event" or diag scalar(@left);
}

# ---- POST: 201 {room,seq,rev,msg_id,ts}; the event on both workers
{
    my $t0 = time;
    my $r = api($ng, POST => "/rooms/$room/messages", user => 'alice',
                name => 'Alice R', json => { body => 'hello rest' });
    is $r->{status}, 201, 'POST messages: 201';
    is_deeply [sort keys %{ $r->{json} // {} }],
        [qw(msg_id rev room seq ts)], 'answer fields: room seq rev msg_id ts';
    is $r->{json}{room}, $room, 'room';
    is $r->{json}{seq}, 1, 'seq 1';
    # before it: the watchers' joined events, then alice's (a first send)
    my $rev1 = @w + 2;
    is $r->{json}{rev}, $rev1, "rev $rev1";
    like $r->{json}{msg_id}, qr/^\d+$/, 'msg_id is an integer';
    ok abs($r->{json}{ts} - $t0 * 1000) < 60_000, 'ts in ms, now';
    like $r->{headers}->content_type // '', qr{^application/json},
        'Content-Type: application/json';
    my $m = next_event_all('first REST message');
    is_deeply $m, { type => 'message', room => $room, seq => 1,
                    rev => $rev1,
                    msg_id => $r->{json}{msg_id}, ts => $r->{json}{ts},
                    from => 'alice', name => 'Alice R', body => 'hello rest' },
        'the event: from the token sub, name from its name claim, as acked';

    # more POSTs over new connections (both workers answer them)
    my @seq;
    for my $i (2 .. 9) {
        my $x = api($ng, POST => "/rooms/$room/messages", user => "poster$i",
                    json => { body => "p$i" });
        push @seq, $x->{status} == 201 ? $x->{json}{seq} : "status $x->{status}";
    }
    is_deeply \@seq, [2 .. 9], 'eight more POSTs: seq 2..9';
    my $all = 1;
    for my $c (@w) {
        my @m = $c->wait_messages($room, 8, 5);
        $all &&= eq_array([map { $_->{seq} } @m], [2 .. 9])
              && eq_array([map { $_->{body} } @m], [map { "p$_" } 2 .. 9]);
    }
    ok $all, 'every watcher got 2..9 once, in order';
}

# ---- idempotency over REST
{
    my %body = (body => 'once', client_msg_id => 'rest-cid-1');
    my $a = api($ng, POST => "/rooms/$room/messages", user => 'alice',
                json => \%body);
    my $b = api($ng, POST => "/rooms/$room/messages", user => 'alice',
                json => \%body);
    is $a->{status}, 201, 'first POST with client_msg_id: 201';
    is $b->{status}, 201, 'retry: 201';
    is $b->{json}{seq}, $a->{json}{seq}, 'retry: same seq';
    is $b->{json}{msg_id}, $a->{json}{msg_id}, 'retry: same msg_id';
    is $b->{json}{ts}, $a->{json}{ts}, 'retry: same ts';
    my $m = next_event_all('REST retry');
    is $m && $m->{seq}, $a->{json}{seq}, 'the event of that seq';
    is $m && $m->{client_msg_id}, 'rest-cid-1', 'with its client_msg_id';
    my $mark = api($ng, POST => "/rooms/$room/messages", user => 'alice',
                   json => { body => 'marker 1' });
    is $mark->{json}{seq}, $a->{json}{seq} + 1, 'the next message: next seq';
    $m = next_event_all('after the REST retry');
    is $m && $m->{seq}, $mark->{json}{seq},
        'the next event is the marker: the retry made no second event';
}

# ---- idempotency across WebSocket and REST
{
    my $ws = track login($ng, 'alice');
    my $s = $ws->request({ type => 'send', room => $room, body => 'both',
                           client_msg_id => 'cross-1' });
    is $s->{type}, 'ok', 'WebSocket send with client_msg_id';
    my $r = api($ng, POST => "/rooms/$room/messages", user => 'alice',
                json => { body => 'both', client_msg_id => 'cross-1' });
    is $r->{status}, 201, 'REST retry of it: 201';
    is $r->{json}{seq}, $s->{seq}, 'REST retry gets the WebSocket seq';
    is $r->{json}{msg_id}, $s->{msg_id}, '... and msg_id';
    is $r->{json}{ts}, $s->{ts}, '... and ts';
    my $o = api($ng, POST => "/rooms/$room/messages", user => 'bob',
                json => { body => 'bob', client_msg_id => 'cross-1' });
    is $o->{json}{seq}, $s->{seq} + 1,
        'the same client_msg_id from another user: a new message';
    my $ws2 = $ws->request({ type => 'send', room => $room, body => 'both',
                             client_msg_id => 'rest-cid-1' });
    is $ws2->{type}, 'ok', 'a WebSocket retry of a REST send';
    is $ws2->{seq}, $s->{seq} - 2, '... gets the REST seq';
    my $m1 = next_event_all('cross 1');
    my $m2 = next_event_all('cross 2');
    is_deeply [map { $_ && $_->{seq} } $m1, $m2], [$s->{seq}, $s->{seq} + 1],
        'one event each';
    my $mark = api($ng, POST => "/rooms/$room/messages", user => 'alice',
                   json => { body => 'marker 2' });
    my $m = next_event_all('after the cross retries');
    is $m && $m->{seq}, $mark->{json}{seq},
        'the next event is the marker: no duplicate';
    $ws->close;
}

# ---- meta, reply_to
{
    my $meta = { a => [1, 2, { b => undef }], s => "gr\x{fc}n", t => true,
                 n => -1.5 };
    my $r = api($ng, POST => "/rooms/$room/messages", user => 'alice',
                json => { body => "caf\x{e9} \x{1F600}", meta => $meta,
                          reply_to => 1 });
    is $r->{status}, 201, 'POST with meta and reply_to';
    my $m = next_event_all('meta');
    is_deeply $m->{meta}, $meta, 'meta object round-trips to the event';
    is $m->{reply_to}, 1, 'reply_to in the event';
    is $m->{body}, "caf\x{e9} \x{1F600}", 'UTF-8 body intact';
    my $h = api($ng, GET => "/rooms/$room/messages?limit=1", user => 'bob');
    my %e = %$m;
    delete $e{type};
    is_deeply $h->{json}{messages}, [\%e],
        'GET: the entry is the event without type';
}

# ---- bodies: size and shape
{
    my $path = "/rooms/$room/messages";
    my $r = api($ng, POST => $path, user => 'alice',
                json => { body => 'x' x 2048 });
    is $r->{status}, 201, 'body of chat_message_max (2048) bytes: 201';
    my $m = next_event_all('2048 bytes');
    is length($m->{body} // ''), 2048, 'the whole body';
    $r = api($ng, POST => $path, user => 'alice',
             json => { body => 'x' x 2049 });
    is_api_error $r, 413, 'too_large', 'body of 2049 bytes: 413 too_large';
    $r = api($ng, POST => $path, user => 'alice',
             json => { body => "\x{e9}" x 1025 });
    is_api_error $r, 413, 'too_large',
        '1025 two-byte characters (2050 bytes): 413';
    $r = api($ng, POST => $path, user => 'alice',
             json => { body => "\x{e9}" x 1024 });
    is $r->{status}, 201, '1024 two-byte characters (2048 bytes): 201';
    next_event_all('2048 bytes of UTF-8');
    $r = api($ng, POST => $path, user => 'alice',
             json => { body => 'x', pad => 'y' x 70_000 });
    is_api_error $r, 413, 'too_large', 'a request body over 64 KiB: 413';

    my @bad = (
        ['no body at all',         body => ''],
        ['not JSON',               body => 'hello'],
        ['truncated JSON',         body => '{"body":"x"'],
        ['a JSON array',           body => '["x"]'],
        ['a JSON string',          body => '"x"'],
        ['no body field',          json => { client_msg_id => 'nobody' }],
        ['body ""',                json => { body => '' }],
        ['body a number',          json => { body => 5 }],
        ['body null',              json => { body => undef }],
        ['meta not an object',     json => { body => 'x', meta => [1] }],
        ['client_msg_id ""',       json => { body => 'x', client_msg_id => '' }],
        ['client_msg_id 65 bytes', json => { body => 'x',
                                             client_msg_id => 'c' x 65 }],
    );
    for my $b (@bad) {
        my ($name, %o) = @$b;
        $r = api($ng, POST => $path, user => 'alice', %o,
                 headers => { 'Content-Type' => 'application/json' });
        is_api_error $r, 400, 'bad_request', "$name: 400 bad_request";
    }
    $r = api($ng, POST => $path, user => 'alice', json => { body => 'ok now' });
    is $r->{status}, 201, 'a good POST after the bad ones';
    $m = next_event_all('after the bad bodies');
    is $m && $m->{body}, 'ok now',
        'the next event is the good one: no bad request made a message';
    no_more_events('after the bad bodies');
}

# ---- GET /rooms/{room}/messages
my $g = rand_room('rest-get');
{
    my $c = track login($ng, 'alice');
    my @ok = $c->pipeline([map { { type => 'send', room => $g,
                                   body => "g$_" } } 1 .. 30]);
    is_deeply [map { $_ && $_->{seq} } @ok], [1 .. 30], '30 messages';
    $c->close;
    my $get = sub {
        my ($q) = @_;
        my $r = api($ng, GET => "/rooms/$g/messages$q", user => 'bob');
        return $r;
    };
    my @cases = (
        ['',                      [1 .. 30],  0],
        ['?limit=10',             [21 .. 30], 1],
        ['?before=21&limit=10',   [11 .. 20], 1],
        ['?before=11&limit=10',   [1 .. 10],  0],
        ['?before=11',            [1 .. 10],  0],
        ['?after=0&limit=10',     [1 .. 10],  1],
        ['?after=10&limit=10',    [11 .. 20], 1],
        ['?after=20&limit=10',    [21 .. 30], 0],
        ['?after=25',             [26 .. 30], 0],
        ['?after=5&before=9',     [6 .. 8],   0],
        ['?after=5&before=20&limit=3', [6 .. 8], 1],
        ['?before=0',             [],         0],
        ['?before=1',             [],         0],
        ['?after=30',             [],         0],
        ['?limit=200',            [1 .. 30],  0],
        ['?limit=1',              [30],       1],
    );
    for my $k (@cases) {
        my ($q, $seqs, $more) = @$k;
        my $r = $get->($q);
        my $j = $r->{json} // {};
        ok $r->{status} == 200
            && eq_array([map { $_->{seq} } @{ $j->{messages} // [] }], $seqs)
            && ref($j->{has_more}) =~ /Boolean/
            && !!$j->{has_more} eq !!$more
            && ($j->{room} // '') eq $g,
            "GET messages$q: 200, "
            . (@$seqs ? "$seqs->[0]..$seqs->[-1]" : 'empty')
            . ', has_more ' . ($more ? 'true' : 'false')
            or diag "$r->{status} $r->{body}";
    }
    my $r = $get->('?after=0&limit=3');
    is_deeply [sort keys %{ $r->{json} }], [qw(has_more messages room)],
        'GET answer fields: room messages has_more';
    is_deeply $r->{json}{messages}[0],
        # rev 1: alice's joined event, from her first send
        { room => $g, seq => 1, rev => 2, msg_id => $ok[0]{msg_id},
          ts => $ok[0]{ts}, from => 'alice', body => 'g1' },
        'an entry: the event without type';
    for my $q ('?before=-1', '?after=-1', '?limit=0', '?limit=201',
               '?limit=abc', '?before=abc', '?after=1x', '?limit=',
               '?limit=-5', '?before=1.5') {
        is_api_error $get->($q), 400, 'bad_request', "GET messages$q: 400";
    }
    is_api_error api($ng, GET => '/rooms/' . rand_room('nope') . '/messages',
                     user => 'bob'), 404, 'not_found',
        'GET messages of a room that does not exist: 404';
    is_api_error api($ng, POST => '/rooms/bad%20room/messages', user => 'bob',
                     json => { body => 'x' }), 400, 'bad_request',
        'an invalid room id: 400';
    my $dm = 'dm:' . join ':', sort "ra$$", "rb$$";
    is api($ng, POST => "/rooms/$dm/messages", user => "ra$$",
           json => { body => 'dm' })->{status}, 201, 'a dm user posts to it';
    is_api_error api($ng, GET => "/rooms/$dm/messages", user => 'bob'),
        403, 'forbidden', 'GET messages of a dm of others: 403';
    my $rev = 'dm:' . join ':', reverse sort "ra$$", "rb$$";
    is_api_error api($ng, GET => "/rooms/$rev/messages", user => "ra$$"),
        400, 'bad_request', 'GET messages of an unsorted dm id: 400';
    is_api_error api($ng, POST => "/rooms/$rev/messages", user => "ra$$",
                     json => { body => 'x' }), 400, 'bad_request',
        'POST to an unsorted dm id: 400';
    is_api_error api($ng, POST => "/rooms/$dm/messages", user => 'bob',
                     json => { body => 'x' }), 403, 'forbidden',
        'POST to a dm of others: 403';
    my $priv = rand_room('rest-priv');
    is api($ng, POST => '/rooms', user => "ra$$",
           json => { room => $priv, private => true })->{status}, 201,
        'a private room';
    is_api_error api($ng, GET => "/rooms/$priv/messages", user => 'bob'),
        403, 'forbidden', 'GET messages of a private room of others: 403';
    is_api_error api($ng, POST => "/rooms/$priv/messages", user => 'bob',
                     json => { body => 'x' }), 403, 'forbidden',
        'POST to a private room of others: 403';
    is api($ng, GET => "/rooms/$priv/messages", user => "ra$$")->{status},
        200, 'its owner reads it';
}

# ---- 401
{
    my $path = "/rooms/$room/messages";
    my @who = (
        ['no Authorization',    no_auth => 1],
        ['a forged token',      token => token(sub => 'alice', bad_sig => 1)],
        ['an expired token',    token => token(sub => 'alice',
                                               exp => time - 10)],
        ['a token of another key', token => token(sub => 'alice',
                                                  secret => 'k' x 40)],
        ['Basic auth',          auth => 'Basic YWxpY2U6eA=='],
        ['an empty Bearer',     auth => 'Bearer '],
    );
    for my $a (@who) {
        my ($name, %o) = @$a;
        for my $call ([GET => '/rooms'], [GET => $path],
                      [POST => $path, json => { body => 'no' }],
                      [GET => "/rooms/$room"]) {
            my ($m, $p, @rest) = @$call;
            my $r = api($ng, $m, $p, %o, @rest);
            is_api_error $r, 401, 'unauthenticated', "$name, $m $p: 401";
            like $r->{headers}->header('WWW-Authenticate') // '', qr/^Bearer\b/,
                "$name, $m $p: WWW-Authenticate: Bearer";
        }
    }
    my $r = api($ng, POST => $path, user => 'alice',
                json => { body => 'marker 3' });
    my $m = next_event_all('after the 401s');
    is $m && $m->{seq}, $r->{json}{seq},
        'no unauthenticated POST made a message';
}

# ---- 405 with Allow, 404 for what is not an API call
sub allow_set {
    my $r = shift;
    return join ',', sort map { uc } split /\s*,\s*/,
        $r->{headers}->header('Allow') // '';
}
{
    for my $k ([PUT => "/rooms/$room/messages", 'GET,POST'],
               [DELETE => "/rooms/$room/messages", 'GET,POST'],
               [PATCH => "/rooms/$room/messages", 'GET,POST'],
               [DELETE => '/rooms', 'GET,POST'],
               [PUT => '/rooms', 'GET,POST'],
               [GET => "/rooms/$room/read", 'POST'],
               [DELETE => "/rooms/$room", 'GET,PATCH'],
               [GET => "/rooms/$room/messages/1", 'DELETE,PATCH'],
               [PUT => "/rooms/$room/messages/1", 'DELETE,PATCH'],
               [POST => '/search?q=hello', 'GET']) {
        my ($m, $p, $allow) = @$k;
        my $r = api($ng, $m, $p, user => 'alice',
                    $m =~ /^P/ ? (json => { body => 'x' }) : ());
        is_api_error $r, 405, undef, "$m $p: 405 with an error body";
        is allow_set($r), $allow, "$m $p: Allow: $allow";
    }
    for my $k ([GET => '/nope'], [GET => '/'], [GET => "/rooms/$room/nope"],
               [GET => "/rooms/$room/messages/1/x"]) {
        my ($m, $p) = @$k;
        my $r = api($ng, $m, $p, user => 'alice',
                    $m =~ /^P/ ? (json => {}) : ());
        is_api_error $r, 404, 'not_found', "$m $p: 404 not_found";
    }
}

# ---- 503 while PostgreSQL is down, and back
{
    my $pg = start_pg();
    my $n2 = start_nginx(pg => $pg->conninfo);
    my $r2 = rand_room('rest-pg');
    my $first;
    my $deadline = time + 15;
    while (time < $deadline) {
        $first = api($n2, POST => "/rooms/$r2/messages", user => 'alice',
                     json => { body => 'up', client_msg_id => 'pg-0' });
        last if $first->{status} == 201;
        ChatTest::run_loop(sub { 0 }, 0.1);
    }
    is $first->{status}, 201, 'own PostgreSQL: POST 201';

    $pg->stop;
    my $r = api($n2, POST => "/rooms/$r2/messages", user => 'alice',
                json => { body => 'down', client_msg_id => 'pg-1' },
                timeout => 20);
    is_api_error $r, 503, 'unavailable', 'POST while PostgreSQL is down: 503';
    is $r->{headers}->header('Retry-After'), 2, 'Retry-After: 2';
    $r = api($n2, GET => "/rooms/$r2/messages", user => 'alice', timeout => 20);
    is_api_error $r, 503, 'unavailable', 'GET messages: 503';
    is $r->{headers}->header('Retry-After'), 2, 'Retry-After: 2';
    $r = api($n2, GET => '/rooms', user => 'alice', timeout => 20);
    is_api_error $r, 503, 'unavailable', 'GET /rooms: 503';

    $pg->start;
    my ($ok, $tries) = (undef, 0);
    $deadline = time + 30;
    while (time < $deadline) {
        $tries++;
        $r = api($n2, POST => "/rooms/$r2/messages", user => 'alice',
                 json => { body => 'down', client_msg_id => 'pg-1' },
                 timeout => 10);
        if ($r->{status} == 201) { $ok = $r; last }
        last if $r->{status} != 503;
        ChatTest::run_loop(sub { 0 }, 0.2);    # pace the retries
    }
    ok $ok, "POST succeeds once PostgreSQL is back ($tries tries)"
        or diag "$r->{status} $r->{body}";
    # the GET below may land on the other worker
    ok wait_until(sub { $n2->pg_ready($pg->conninfo) }, 15, 0.05),
        "every worker's pool is connected again";
    is $ok && $ok->{json}{seq}, 2, 'seq 2: the failed POST stored nothing';
    $r = api($n2, GET => "/rooms/$r2/messages", user => 'alice');
    is_deeply [map { $_->{body} } @{ $r->{json}{messages} // [] }],
        [qw(up down)], 'GET: both messages, once';
    $n2->stop;
}

close_all(@open);
$ng->stop;
done_testing;
