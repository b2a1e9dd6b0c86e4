# REST floods: the module does not limit REST calls per connection
# (protocol.md, Limits); nginx's limit_req on the API location does, and
# with "error_page 429 /chat/errors" its refusals are the protocol's: 429
# rate_limited in JSON with Retry-After (2: nginx does not tell the wait).  Each route of the API is flooded
# with 50 pipelined calls on one keep-alive connection against a budget of
# 10: 10 are served, 40 refused, and what was refused changed nothing (10
# messages stored, 10 rooms created, 10 members added, 10 messages
# deleted).  A WebSocket user chats meanwhile.  (Accounts routes have their
# own budgets in the module: t/102.)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Mojo::JSON qw(encode_json);
use ChatTest;

my $N = 50;
my $BUDGET = 10;        # burst=9 nodelay at 1r/m: 10 at once

# each flooded route counts in its own bucket (X-Flood); calls without
# the header (the test's own) are not counted
my $ng = start_nginx(
    workers => 1,
    http => 'limit_req_zone $http_x_flood zone=flood:1m rate=1r/m;',
    api_loc => "limit_req zone=flood burst=@{[$BUDGET - 1]} nodelay; "
             . 'limit_req_status 429;',
    server => 'error_page 429 /chat/errors;',
);
my $conninfo = backends()->{conninfo};
my $tag = "rf$$" . int(rand 1e4);
my $owner = "${tag}o";
my $tok = token(sub => $owner);
my $admin_tok = token(sub => "${tag}adm", roles => ['admin']);
my $room = rand_room('rflood');

is api($ng, POST => '/rooms', user => $owner,
       json => { room => $room })->{status}, 201, 'a room';
for my $i (1 .. $N) {
    api($ng, POST => "/rooms/$room/messages", user => $owner,
        json => { body => "seed $i" });
}

my $bob = login($ng, "${tag}bob");
my $bob_room = rand_room('rflood-bob');
is $bob->request({ type => 'join', room => $bob_room })->{type}, 'ok',
    'bob joins a room of his own';
my @acks;

# $N calls of $make->($i) (method, path, body, token) pipelined on one
# connection; returns the responses ({status, json, retry_after})
sub flood {
    my ($name, $make) = @_;
    my $req = '';
    for my $i (1 .. $N) {
        my ($m, $p, $b, $t) = $make->($i);
        $b = encode_json($b) if ref $b;
        $req .= "$m /chat/api$p HTTP/1.1\r\nHost: x\r\nX-Flood: $name\r\n"
            . 'Authorization: Bearer ' . ($t // $tok) . "\r\n"
            . (defined $b ? "Content-Type: application/json\r\n"
                            . 'Content-Length: ' . length($b) . "\r\n"
                          : '')
            . "\r\n" . ($b // '');
    }
    my $c = raw_connect($ng->port, '/', undef, request => $req,
                        no_response => 1);
    my @res;
    for (1 .. $N) {
        delete @$c{qw(headers body status)};
        $c->read_response(10);
        last unless $c->status;
        push @res, { status => $c->status, json => scalar $c->json,
                     retry_after => $c->header('Retry-After') };
    }
    $c->close;
    push @acks, $bob->request({ type => 'send', room => $bob_room,
                                body => "during $name" });
    return @res;
}

sub check {
    my ($name, @res) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @served = grep { $_->{status} != 429 } @res;
    my @refused = grep { $_->{status} == 429 } @res;
    is scalar(@res), $N, "$name: $N answered";
    is scalar(@served), $BUDGET, "$name: $BUDGET served"
        or diag explain [map { $_->{status} } @res];
    ok !grep({ !($_->{json} && ($_->{json}{error}{code} // '') eq
                 'rate_limited' && ($_->{retry_after} // '') eq '2') }
             @refused),
       "$name: the rest 429 rate_limited in JSON, with Retry-After: 2";
    return @served;
}

my @routes = (
    [rooms => sub { (GET => '/rooms') }],
    [room => sub { (GET => "/rooms/$room") }],
    [history => sub { (GET => "/rooms/$room/messages?limit=5") }],
    [read => sub { (POST => "/rooms/$room/read", { seq => $_[0] }) }],
    [edit => sub { (PATCH => "/rooms/$room/messages/1",
                    { body => "edit $_[0]" }) }],
    [search => sub { (GET => '/search?q=seed') }],
    [dm => sub { (POST => "/dm/${tag}peer$_[0]") }],
    [patch => sub { (PATCH => "/rooms/$room", { topic => "t $_[0]" }) }],
    [members => sub { (GET => "/rooms/$room/members") }],
    [ban => sub { (POST => "/rooms/$room/bans/${tag}b$_[0]") }],
    [mute => sub { (POST => "/rooms/$room/mutes/${tag}m$_[0]",
                    { seconds => 60 }) }],
    [presence => sub { (GET => "/presence?user=${tag}bob") }],
    [revoke => sub { (POST => "/users/${tag}r$_[0]/revoke", undef,
                      $admin_tok) }],
    [global_ban => sub { (POST => "/users/${tag}g$_[0]/ban", undef,
                          $admin_tok) }],
);
for my $r (@routes) {
    my ($name, $make) = @$r;
    check($name, flood($name, $make));
}

# the routes that change things: only what was served happened
my @s = check('send', flood('send', sub {
    (POST => "/rooms/$room/messages", { body => "flood $_[0]" }) }));
is psql($conninfo, "select count(*) from messages where room_id = '$room'"
        . " and body like 'flood %'"), $BUDGET, "send: $BUDGET stored";

check('create', flood('create', sub {
    (POST => '/rooms', { room => "$room-n$_[0]" }) }));
is psql($conninfo, "select count(*) from rooms where id like '$room-n%'"),
    $BUDGET, "create: $BUDGET rooms";

check('add', flood('add', sub {
    (PUT => "/rooms/$room/members/${tag}u$_[0]") }));
is psql($conninfo, "select count(*) from members where room_id = '$room'"
        . " and user_id like '${tag}u%'"), $BUDGET, "add: $BUDGET members";

check('delete', flood('delete', sub {
    (DELETE => "/rooms/$room/messages/$_[0]") }));
is psql($conninfo, "select count(*) from messages where room_id = '$room'"
        . ' and deleted'), $BUDGET, "delete: $BUDGET deleted";

is scalar(grep { $_ && $_->{type} eq 'ok' } @acks), scalar(@acks),
    'bob: every send acknowledged between the floods';
is_deeply [map { $_ && $_->{seq} } @acks], [1 .. @acks], 'bob: in order';
is api($ng, GET => "/rooms/$room", user => $owner)->{status}, 200,
    'the API answers unlimited calls';
is_deeply [$ng->crashes], [], 'no worker crashed';

$ng->stop;
done_testing;
