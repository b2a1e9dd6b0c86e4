# WebSocket floods of every request type (protocol.md, Limits): one
# connection pipelines 50 requests of one type against a budget of 10
# (chat_request_rate, and chat_user_send_rate for sends).  Each request is
# answered once: 10 are served, 40 get rate_limited with retry_after and
# their id, and a refused request changes nothing (no message stored, no
# room joined or created, no edit or delete done).  Another user's sends,
# between the floods, are all acknowledged, in order.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $N = 50;
my $BUDGET = 10;        # burst=9 at 1r/m: 10 at once, no refill in the test

# (naming chat_user_send_rate, the test sets the others' rate itself)
my $ng = start_nginx(
    http => 'chat_user_send_rate 100000r/s burst=100000;',
    server => 'location /chat/flood { chat_ws; '
    . 'chat_request_rate 1r/m burst=9; chat_user_send_rate 1r/m burst=9; }');
my $url = 'ws://127.0.0.1:' . $ng->port . '/chat/flood';
my $conninfo = backends()->{conninfo};
my $tag = "wf$$" . int(rand 1e4);
my $room = rand_room('wflood');

my $bob = login($ng, "${tag}bob");
is $bob->request({ type => 'join', room => $room })->{type}, 'ok',
    'bob joins the room';
my @acks;

sub is_limited {
    my $r = shift;
    return $r && $r->{type} eq 'error' && $r->{code} eq 'rate_limited'
        && ($r->{retry_after} // '') =~ /^\d+$/ && $r->{retry_after} >= 1;
}

# a new user floods $N requests of $make->($i); returns the served replies
sub flood {
    my ($name, $make, $user) = @_;
    $user //= "${tag}$name";
    my $c = login($url, $user);
    my @r = $c->pipeline([map { { %{ $make->($_) }, id => "$name-$_" } }
                              1 .. $N], 20);
    is scalar(grep { defined } @r), $N, "$name: every request answered";
    my @served = grep { $_ && !is_limited($_) } @r;
    is scalar(@served), $BUDGET, "$name: $BUDGET served"
        or diag explain \@served;
    is scalar(grep { is_limited($_) } @r), $N - $BUDGET,
        "$name: the rest rate_limited with retry_after";
    is_deeply [map { $_ && $_->{id} } @r], [map { "$name-$_" } 1 .. $N],
        "$name: each with its own id";
    $c->close;
    push @acks, $bob->request({ type => 'send', room => $room,
                                body => "bob after $name" }, 20)
        // { type => 'none', after => $name };
    return @served;
}

sub count { psql($conninfo, "select count(*) from $_[0]") }

flood(ping => sub { { type => 'ping' } });
flood(auth => sub { { type => 'auth', token => token(sub => "${tag}auth") } });
flood(refresh => sub {
    { type => 'refresh', token => token(sub => "${tag}refresh") } });
flood(history => sub { { type => 'history', room => $room } });
flood(read => sub { { type => 'read', room => $room, seq => 1 } });
flood(typing => sub { { type => 'typing', room => $room } });
flood(presence => sub { { type => 'presence', room => $room } });
flood(unknown => sub { { type => 'no-such-type' } });
flood(leave => sub { { type => 'leave', room => $room } });

# joins of 50 rooms that do not exist: only the served ones create theirs
my @j = flood(join => sub { { type => 'join', room => "$room-j$_[0]" } });
is count("rooms where id like '$room-j%'"),
    scalar(grep { $_->{type} eq 'ok' } @j), 'join: a room for each served';

# sends: the user's send budget
my @s = flood(send => sub { { type => 'send', room => $room,
                              body => "flood $_[0]" } });
is count("messages where room_id = '$room' and body like 'flood %'"),
    $BUDGET, "send: $BUDGET stored";

# edits of one message: the last served one is what is stored
my $editor = "${tag}edit";
my $orig = api($ng, POST => "/rooms/$room/messages", user => $editor,
               json => { body => 'original' });
my $seq = $orig->{json}{seq};
ok $seq, 'the editor\'s message';
my @e = flood(edit => sub { { type => 'edit', room => $room, seq => $seq,
                              body => "edit $_[0]" } }, $editor);
my ($last) = map { $_->{id} =~ /(\d+)$/ } $e[-1];
is psql($conninfo, "select body from messages where room_id = '$room' "
        . "and seq = $seq"), "edit $last", 'edit: the last served is stored';

# deletes of 50 messages: only the served ones are deleted
my $deleter = "${tag}del";
my @seqs = map { api($ng, POST => "/rooms/$room/messages", user => $deleter,
                     json => { body => "to delete $_" })->{json}{seq} }
               1 .. $N;
flood(delete => sub { { type => 'delete', room => $room,
                        seq => $seqs[$_[0] - 1] } }, $deleter);
is count("messages where room_id = '$room' and deleted"), $BUDGET,
    "delete: $BUDGET deleted";

is scalar(grep { $_ && $_->{type} eq 'ok' } @acks), scalar(@acks),
    'bob: every send acknowledged between the floods' or diag explain \@acks;
my @bs = map { $_ && $_->{seq} // 0 } @acks;
is_deeply \@bs, [sort { $a <=> $b } @bs], 'bob: in order';
is_deeply [$ng->crashes], [], 'no worker crashed';

$ng->stop;
done_testing;
