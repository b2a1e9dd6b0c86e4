# Every request with an id gets exactly one reply carrying that id (issue
# 8, point 6), also when the JSON decoder refuses a frame that is valid
# JSON: NUL and lone surrogate escapes, duplicate keys inside meta, a seq
# of 2^63, and the other refusals of the text.  When the id itself is what
# is refused, the error comes without an id.  REST has no ids: the same
# bodies get a 400 JSON error there.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $ng = start_nginx(workers => 1);
my $room = rand_room('ids');

my $c = login($ng, 'alice');
is $c->request({ type => 'join', room => $room })->{type}, 'ok', 'joined';

# [id as the reply carries it, frame text, what it is]
my @frames = (
    [ 'n1', qq({"type":"send","id":"n1","room":"$room","body":"a\\u0000b"}),
      'NUL escape in body' ],
    [ 'n2', qq({"type":"send","id":"n2","room":"$room","body":"\\ud800"}),
      'lone surrogate in body' ],
    [ 'n3', qq({"type":"send","id":"n3","room":"$room","body":"b",)
            . qq("meta":{"k":1,"k":2}}),
      'duplicate key inside meta' ],
    [ 'n4', qq({"type":"read","id":"n4","room":"$room",)
            . qq("seq":9223372036854775808}),
      'seq of 2^63' ],
    [ 5, qq({"type":"ping","type":"send","id":5}),
      'duplicate type, numeric id' ],
    [ 'n6', qq({"seq":1e999,"type":"read","room":"$room","id":"n6"}),
      'real number out of range, id last' ],
    [ 'n7', qq({"type":"send","id":"n7","room":"$room","body":"tab\there"}),
      'raw control character in a string' ],
    [ 'n8', qq({"type":"send","\\u0069d":"n8","room":"$room",)
            . qq("body":"\\udc00"}),
      'escaped id key' ],
    [ 'n9', qq( { "id" : "n9" , "type":"send","room":"$room",)
            . qq("body":"x","meta":{"a":{"b":[1,{"c":"\\u0000"}]}}} ),
      'NUL escape deep in meta, white space around the id' ],
    [ -10, qq({"type":"ping","id":-10,"a\\u0000":1}),
      'NUL escape in a key' ],
);

# the replies of everything sent, up to the pong of a last ping
sub replies_to {
    my (@texts) = @_;
    my $end = 'end' . ChatTest::next_id();
    $c->send_text($_) for @texts;
    $c->send_json({ type => 'ping', id => $end });
    my @got = $c->recv_until(sub { ($_->{id} // '') eq $end }, 10);
    ok $c->{last_until_ok}, 'the last ping was answered';
    pop @got;
    return grep { ($_->{type} // '') ne 'message' } @got;
}

my @replies = replies_to(map { $_->[1] } @frames);
for my $f (@frames) {
    my ($id, undef, $name) = @$f;
    my @r = grep { defined $_->{id} && $_->{id} eq $id } @replies;
    is scalar(@r), 1, "$name: one reply with id $id";
    is $r[0] && $r[0]{type}, 'error', "$name: an error";
    is $r[0] && $r[0]{code}, 'bad_request', "$name: bad_request";
}
is scalar(@replies), scalar(@frames), 'no other reply';

# an id that is unusable itself: the error has none
my @bad_ids = (
    qq({"type":"ping","id":"a\\u0000"}),
    qq({"type":"ping","id":"\\ud800"}),
    qq({"type":"ping","id":9223372036854775808}),
    qq({"type":"ping","id":1,"id":2}),
);
@replies = replies_to(@bad_ids);
is scalar(@replies), scalar(@bad_ids), 'one reply to each unusable id';
is scalar(grep { ($_->{type} // '') eq 'error' && !exists $_->{id}
                 && $_->{code} eq 'bad_request' } @replies),
    scalar(@bad_ids), 'each a bad_request without id';

# nothing was stored by the refused sends
my $h = $c->request({ type => 'history', room => $room });
is_deeply $h->{messages}, [], 'nothing stored';

# ---- REST: a 400 JSON error for the same bodies
my $json = { 'Content-Type' => 'application/json' };
for my $t ([ messages => '{"body":"a\u0000b"}', 'NUL escape' ],
           [ messages => '{"body":"\ud800"}', 'lone surrogate' ],
           [ messages => '{"body":"b","meta":{"k":1,"k":2}}',
             'duplicate key inside meta' ],
           [ read => '{"seq":9223372036854775808}', 'seq of 2^63' ]) {
    my ($what, $body, $name) = @$t;
    my $r = api($ng, POST => "/rooms/$room/$what", body => $body,
                headers => $json);
    is_api_error($r, 400, 'bad_request', "REST $what, $name: 400 JSON");
}

close_all($c);
$ng->stop;
done_testing;
