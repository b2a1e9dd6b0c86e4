# Joins asked for together go to PostgreSQL in one statement: each still
# gets its own answer, a failure stays with its join, and a member's
# rejoin (a reconnect storm) answers the room's seq as a first join does.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Mojo::JSON qw(true);
use ChatTest;

my $ng = start_nginx();

my @open;
sub track { push @open, @_; return $_[0] }

my $tag = "jb$$" . int(rand 1e6);    # user names of this run only
my ($carol, $dave) = map { "$tag$_" } qw(carol dave);

my $priv = rand_room('batch-priv');
is api($ng, POST => '/rooms', user => $carol,
       json => { room => $priv, private => true })->{status}, 201,
    'carol creates a private room';

my $busy = rand_room('batch-busy');
my $c = track login($ng, $carol);
is $c->request({ type => 'join', room => $busy })->{type}, 'ok',
    'carol joins a room';
for my $i (1 .. 3) {
    is $c->request({ type => 'send', room => $busy, body => "m$i" })->{type},
        'ok', "message $i sent";
}

# one frame burst: 40 new rooms, the private room, a direct-message room
# of others and the room with 3 messages
my $d = track login($ng, $dave);
my @fresh = map { rand_room("batch-$_") } 1 .. 40;
my @joins = ((map { { type => 'join', room => $_ } } @fresh),
             { type => 'join', room => $priv },
             { type => 'join', room => "dm:$carol:someone" },
             { type => 'join', room => $busy });
my @r = $d->pipeline(\@joins, 10);

is scalar(grep { $_ && $_->{type} eq 'ok' && $_->{seq} == 0 } @r[0 .. 39]),
    40, 'the 40 new rooms: ok, seq 0 each';
is_deeply [map { $_->{room} } @r[0 .. 39]], \@fresh,
    'each answer names its own room';
is $r[40]{type}, 'error', 'the private room of others: error';
is $r[40]{code}, 'forbidden', '... forbidden';
is $r[41]{type}, 'error', 'a direct-message room of others: error';
ok $r[41]{code} eq 'forbidden' || $r[41]{code} eq 'not_found',
    "... $r[41]{code}";
is $r[42]{type}, 'ok', 'the room with messages: ok';
is $r[42]{seq}, 3, '... at its seq';

# the same user reconnects and rejoins everything: a member's join
my $d2 = track login($ng, $dave);
@r = $d2->pipeline([map { { type => 'join', room => $_ } } @fresh, $busy],
                   10);
is scalar(grep { $_ && $_->{type} eq 'ok' } @r), 41,
    'rejoins after a reconnect: all ok';
is $r[40]{seq}, 3, 'the rejoin answers the room seq';

# and the rooms work: a send reaches both of dave's connections
my $ok = $c->request({ type => 'send', room => $busy, body => 'after' });
is $ok->{seq}, 4, 'a send after the joins';
for my $who ([first => $d], [second => $d2]) {
    my ($m) = $who->[1]->wait_messages($busy, 1, 5);
    is $m && $m->{body}, 'after', "dave's $who->[0] connection gets it";
}

$_->close for @open;
done_testing;
