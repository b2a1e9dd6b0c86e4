# Direct messages (protocol.md sections 1 and 7): POST /dm/{user} makes
# the dm:a:b room once, whoever asks and however many ask at once (201
# once, 200 after); the other user must be known to the gateway (has
# authenticated); only the two users may join, read, send or see it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Mojo::IOLoop;
use Mojo::UserAgent;
use ChatTest;

my $ng = start_nginx(workers => 2);
my $tag = "dm$$" . int(rand 1000);
my ($a, $b, $c) = map { "$tag$_" } qw(a b c);
my $dm = "dm:$a:$b";
my $pg = backends()->{conninfo};

sub known {
    my ($u) = @_;
    return wait_until(sub {
        psql($pg, "select count(*) from chat_users where user_id = '$u'") eq '1'
    }, 10);
}

# a user nobody has seen is not found
is_api_error(api($ng, 'POST', "/dm/$b", user => $a), 404, 'not_found',
             'POST /dm/{user never seen}: 404');
is psql($pg, "select count(*) from rooms where id = '$dm'"), '0',
    'and no room was made';

# to oneself: a direct-message room is between two users
is_api_error(api($ng, 'POST', "/dm/$a", user => $a), 400, 'bad_request',
             'POST /dm/{oneself}: 400');
is_api_error(api($ng, 'POST', "/dm/bad!id", user => $a), 400, 'bad_request',
             'POST /dm/{invalid user id}: 400');

# connecting (WebSocket) or calling the API makes a user known
my $wb = login($ng, $b);
ok known($b), 'a user who connected is recorded in chat_users';
api($ng, 'GET', '/rooms', user => $a);
ok known($a), 'a user who called the API is recorded too';


# both users ask at once, several times each: one room, one 201
my $ua = Mojo::UserAgent->new;
my @res;
my $pending = 0;
for my $i (1 .. 8) {
    my ($me, $other) = $i % 2 ? ($a, $b) : ($b, $a);
    $pending++;
    $ua->post($ng->api_url . "/dm/$other",
              { Authorization => 'Bearer ' . token(sub => $me) } => sub {
        my (undef, $tx) = @_;
        push @res, { status => $tx->res->code,
                     json => $tx->res->json, me => $me };
        $pending--;
    });
}
run_loop(sub { !$pending }, 15);
is scalar(@res), 8, 'eight concurrent POST /dm calls answered';
is scalar(grep { $_->{status} == 201 } @res), 1, 'exactly one 201';
is scalar(grep { $_->{status} == 200 } @res), 7, 'the others 200';
is scalar(grep { ($_->{json}{room} // '') eq $dm
                 && ($_->{json}{kind} // '') eq 'dm' } @res), 8,
    "every answer is the room $dm";
is psql($pg, "select count(*) from rooms where id = '$dm'"), '1', 'one room';

my $again = api($ng, 'POST', "/dm/$a", user => $b);
is $again->{status}, 200, 'POST /dm again: 200';
is $again->{json}{room}, $dm, 'the same room';

# both users are members, and the room is in both users' lists
for my $u ($a, $b) {
    my $l = api($ng, 'GET', '/rooms', user => $u);
    ok((grep { $_->{room} eq $dm } @{ $l->{json}{rooms} }),
       "GET /rooms of $u lists the DM");
}
my $ms = api($ng, 'GET', "/rooms/$dm/members", user => $a);
is $ms->{status}, 200, 'GET members of the DM: 200';
is_deeply [ map { $_->{user} } @{ $ms->{json}{members} } ], [ sort $a, $b ],
    'its members are the two users';

# the two users use it; a third may do nothing with it
my $wa = login($ng, $a);
my $ok = $wa->request({ type => 'join', room => $dm });
is $ok->{type}, 'ok', "$a joins the DM";
$ok = $wb->request({ type => 'join', room => $dm });
is $ok->{type}, 'ok', "$b joins the DM";
$ok = $wa->request({ type => 'send', room => $dm, body => 'hi' });
is $ok->{type}, 'ok', "$a sends";
my ($m) = $wb->wait_messages($dm, 1);
is $m->{body}, 'hi', "$b gets it";

my $wc = login($ng, $c);
for my $req ({ type => 'join', room => $dm },
             { type => 'send', room => $dm, body => 'x' },
             { type => 'history', room => $dm },
             { type => 'read', room => $dm, seq => 1 }) {
    my $r = $wc->request($req);
    is $r->{code}, 'forbidden', "a third user's $req->{type}: forbidden";
}
is_api_error(api($ng, 'GET', "/rooms/$dm", user => $c), 403, 'forbidden',
             'GET /rooms/{dm} by a third user: 403');
is_api_error(api($ng, 'GET', "/rooms/$dm/members", user => $c), 403,
             'forbidden', 'GET members by a third user: 403');
is_api_error(api($ng, 'GET', "/rooms/$dm/messages", user => $c), 403,
             'forbidden', 'GET messages by a third user: 403');
is_api_error(api($ng, 'POST', "/rooms/$dm/messages", user => $c,
                 json => { body => 'x' }), 403, 'forbidden',
             'POST messages by a third user: 403');
is_api_error(api($ng, 'PUT', "/rooms/$dm/members/$c", user => $a),
             403, 'forbidden', 'nobody is added to a DM');
is_api_error(api($ng, 'POST', "/rooms/$dm/bans/$b", user => $a,
                 token => token(sub => $a, roles => ['admin'])),
             403, 'forbidden', 'a DM has no moderation, not even by admins');
$wc->settle;
is scalar($wc->take_messages($dm)), 0, 'the third user got nothing of it';

done_testing;
