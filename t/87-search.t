# Full-text search (protocol.md section 7, GET /search): matches in the
# rooms the user is a member of, or in the room asked for if the user may
# read it; never a private room of others, another pair's direct
# messages, or a room the user is banned from; newest first, paged with
# before (a msg_id); entries shaped as history entries with their room;
# edits found by their new body only; deleted messages never; bounds on
# q and limit; chat_search_language chooses the configuration.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $ng = start_nginx(workers => 2, listen => 'reuseport', server => q{
        location /chat/api-redis/ {
            chat_api;
            chat_store redis;
        }});
my $pg = ChatTest::backends()->{conninfo};
my $tag = $$ . int(rand(1e6));
my ($alice, $bob, $carol, $dave) = map { "$_$tag" } qw(alice bob carol dave);
my $T = "zebra$tag";

sub send_msg {
    my ($room, $user, $body) = @_;
    my $r = api($ng, 'POST', "/rooms/$room/messages", user => $user,
                json => { body => $body });
    die "send to $room: $r->{status} $r->{body}" unless $r->{status} == 201;
    return $r->{json};
}

sub search {
    my ($user, $q, %a) = @_;
    my $qs = join '&', "q=$q", map { "$_=$a{$_}" } sort keys %a;
    return api($ng, 'GET', "/search?$qs", user => $user);
}

sub rooms_of { my %r; $r{ $_->{room} }++ for @{ $_[0]{json}{messages} // [] };
               [sort keys %r] }

my $pub = "pub-$tag";
my $pub2 = "pubx-$tag";
my $priv = "priv-$tag";
my $dm = "dm:$alice:$bob";
my $dm_other = "dm:$carol:$dave";

is api($ng, 'POST', '/rooms', user => $alice,
       json => { room => $priv, private => \1 })->{status}, 201,
    'a private room of alice';
send_msg($pub, $alice, "$T in public");
send_msg($pub, $bob, "bob joins $pub");
send_msg($pub2, $alice, "$T in a public room bob is not in");
send_msg($priv, $alice, "$T in private");
send_msg($dm, $alice, "$T to bob");
send_msg($dm_other, $carol, "$T between carol and dave");

my $r = search($bob, $T);
is $r->{status}, 200, 'bob searches';
is_deeply rooms_of($r), [sort $dm, $pub],
    'he finds his public room and his DM only: not a private room of '
    . 'others, not other people\'s DMs, not rooms he is not in';
my ($e) = grep { $_->{room} eq $pub } @{ $r->{json}{messages} };
is_deeply [sort keys %$e], [sort qw(room seq rev msg_id from body ts)],
    'an entry has the shape of a history entry, with its room';
is $r->{json}{has_more}, JSON::PP::false(), 'has_more false';

is_deeply rooms_of(search($alice, $T)), [sort $dm, $priv, $pub, $pub2],
    'alice finds hers, the private one included';
is_deeply rooms_of(search($carol, $T)), [$dm_other],
    'carol finds her DM only';

$r = search($bob, $T, room => $pub2);
is_deeply rooms_of($r), [$pub2], 'room=: a public room he may read';
is_api_error search($bob, $T, room => $priv), 403, 'forbidden',
    'room=: a private room he is not in: 403';
is_api_error search($bob, $T, room => $dm_other), 403, 'forbidden',
    'room=: other people\'s DM: 403';
is_api_error search($bob, $T, room => "nosuch-$tag"), 404, 'not_found',
    'room=: no such room: 404';

# paging: newest first, before = the last msg_id
my @ids = map { send_msg($pub, $alice, "page$tag number $_")->{msg_id} }
          1 .. 25;
my (@all, $before, $pages);
while (1) {
    $r = search($bob, "page$tag", limit => 10,
                defined $before ? (before => $before) : ());
    is $r->{status}, 200, 'a page';
    my @m = @{ $r->{json}{messages} };
    push @all, @m;
    $pages++;
    last unless $r->{json}{has_more} && $pages < 5;
    $before = $m[-1]{msg_id};
}
is $pages, 3, 'three pages of 10';
is_deeply [map { $_->{msg_id} } @all], [reverse @ids],
    'every match once, newest first';

# edits: the new body only
my $m = send_msg($pub, $alice, "oldword$tag here");
is search($bob, "oldword$tag")->{json}{messages}[0]{seq}, $m->{seq},
    'found by its body';
is api($ng, 'PATCH', "/rooms/$pub/messages/$m->{seq}", user => $alice,
       json => { body => "newword$tag here" })->{status}, 200, 'edited';
is_deeply search($bob, "oldword$tag")->{json}{messages}, [],
    'no longer found by the old body';
$r = search($bob, "newword$tag");
is $r->{json}{messages}[0]{body}, "newword$tag here",
    'found by the new body, which it shows';
ok $r->{json}{messages}[0]{edited_at}, '... with edited_at';

# deletes: never match
$m = send_msg($pub, $alice, "gone$tag soon");
is api($ng, 'DELETE', "/rooms/$pub/messages/$m->{seq}",
       user => $alice)->{status}, 204, 'deleted';
is_deeply search($alice, "gone$tag")->{json}{messages}, [],
    'a deleted message never matches';
is psql($pg, "select count(*) from messages where room_id = '$pub'"
             . " and body like '%gone$tag%'"), 0,
    'its body is gone from PostgreSQL';

# query syntax: "+" is a space, words are ANDed, quotes and - work
send_msg($pub, $alice, "alpha$tag beta$tag");
send_msg($pub, $alice, "alpha$tag gamma$tag");
is scalar @{ search($bob, "alpha$tag+beta$tag")->{json}{messages} }, 1,
    'two words: both must match ("+" is a space)';
is scalar @{ search($bob, "alpha$tag%20-beta$tag")->{json}{messages} }, 1,
    '"-word" excludes';
is scalar @{ search($bob, "alpha$tag")->{json}{messages} }, 2,
    'one word: both';

# a ban hides the room
psql($pg, "insert into chat_room_bans (room_id, user_id, by_user, at)"
          . " values ('$pub', '$bob', '$alice', 0)");
is_deeply rooms_of(search($bob, $T)), [$dm],
    'banned from a room: its messages are no longer found';
is_api_error search($bob, $T, room => $pub), 403, 'forbidden',
    '... and room= that room is 403';

# bounds
is_api_error api($ng, 'GET', '/search', user => $bob), 400, 'bad_request',
    'no q: 400';
is_api_error search($bob, ''), 400, 'bad_request', 'an empty q: 400';
is_api_error search($bob, 'x' x 257), 400, 'bad_request',
    'q over 256 bytes: 400';
is search($bob, 'x' x 256)->{status}, 200, 'q of 256 bytes: 200';
is_api_error search($bob, '%ff%fe'), 400, 'bad_request',
    'q that is not UTF-8: 400';
is_api_error search($bob, $T, limit => 0), 400, 'bad_request', 'limit=0: 400';
is_api_error search($bob, $T, limit => 101), 400, 'bad_request',
    'limit=101: 400';
is search($bob, $T, limit => 100)->{status}, 200, 'limit=100: 200';
is_api_error search($bob, $T, before => -1), 400, 'bad_request',
    'before=-1: 400';
is_api_error search($bob, $T, room => 'bad%20room'), 400, 'bad_request',
    'an invalid room: 400';
is_api_error api($ng, 'GET', "/search?q=$T", no_auth => 1), 401,
    'unauthenticated', 'no token: 401';
is_deeply search($bob, '%21%21')->{json}{messages}, [],
    'a q of punctuation only matches nothing';

# chat_store redis stores nothing to search
is_api_error http_request('GET', $ng->url . "/chat/api-redis/search?q=$T",
                          headers => { Authorization => 'Bearer '
                                       . token(sub => $bob) }),
    400, 'bad_request', 'chat_store redis: 400';

# chat_search_language: the configuration of the query
my $en = start_nginx(http => 'chat_search_language english;');
send_msg($pub2, $alice, "the cats were running$tag");
is_deeply [grep { $_->{body} =~ /running$tag/ }
           @{ search($alice, "cat", room => $pub2)->{json}{messages} }], [],
    'simple: "cat" does not find "cats"';
$r = api($en, 'GET', "/search?q=cat&room=$pub2", user => $alice);
is_deeply [map { $_->{body} } @{ $r->{json}{messages} }],
    ["the cats were running$tag"],
    'english: "cat" finds "cats" (stemmed)';

done_testing;
