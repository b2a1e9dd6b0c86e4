# One reply frame is at most chat_reply_max bytes (issue 8, point 4): a
# history page of large messages stops early with has_more, keeping the
# end that paging goes on from, and paging back or forward from there
# gives every message once, over the WebSocket and REST alike.  A message
# of the largest size, escapes and meta included, still fits a page.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use ChatTest;

my $max = 20 * 1024;
my $ng = start_nginx(workers => 1,
                     loc => "chat_reply_max $max; chat_frame_max 32k;",
                     api_loc => "chat_reply_max $max;");
my $room = rand_room('replymax');

my $alice = login($ng, 'alice');
my @raw;
$alice->tx->on(text => sub { push @raw, $_[1] });
is $alice->request({ type => 'join', room => $room })->{type}, 'ok', 'joined';

# 40 messages of 1 to 2 KB, some with 2 KB of meta: about 100 KB in all
my $n = 40;
my @sent;
for my $i (1 .. $n) {
    my %m = (type => 'send', room => $room,
             body => sprintf('%04d', $i) . ('x' x (900 + 25 * $i)));
    $m{meta} = { pad => 'm' x 2000 } if $i % 3 == 0;
    my $r = $alice->request(\%m, 10);
    is $r->{type}, 'ok', "send $i" or diag explain $r;
    push @sent, $r->{seq};
}

# a page: its messages' seqs, has_more, and the size of the reply's text
sub ws_page {
    my (%a) = @_;
    my $id = 'p' . ChatTest::next_id();
    @raw = ();
    my $r = $alice->request({ type => 'history', room => $room, id => $id,
                              limit => 200, %a }, 10);
    my ($text) = grep { /"id":"\Q$id\E"/ } @raw;
    return ([map { $_->{seq} } @{ $r->{messages} // [] }], $r->{has_more},
            length($text // ''));
}

sub rest_page {
    my (%a) = @_;
    my $q = join '&', 'limit=200', map { "$_=$a{$_}" } sort keys %a;
    my $r = api($ng, GET => "/rooms/$room/messages?$q", user => 'alice');
    return ([map { $_->{seq} } @{ $r->{json}{messages} // [] }],
            $r->{json}{has_more}, length($r->{body} // ''));
}

# pages all the way, back (before) or forward (after) from the start:
# every seq in ascending order, the number of pages, the largest reply
# and each page's has_more
sub walk {
    my ($page, $dir) = @_;
    my (@got, @more);
    my ($pages, $biggest) = (0, 0);
    my %a = $dir eq 'after' ? (after => 0) : ();
    for (1 .. 50) {
        my ($seqs, $more, $size) = $page->(%a);
        last unless @$seqs;
        $pages++;
        $biggest = $size if $size > $biggest;
        push @more, $more ? 1 : 0;
        if ($dir eq 'after') {
            push @got, @$seqs;
            $a{after} = $seqs->[-1];
        } else {
            unshift @got, @$seqs;
            $a{before} = $seqs->[0];
        }
        last unless $more;
    }
    return (\@got, $pages, $biggest, \@more);
}

for my $via ([ 'WebSocket', \&ws_page ], [ 'REST', \&rest_page ]) {
    my ($name, $page) = @$via;

    for my $dir ('before', 'after') {
        my ($got, $pages, $biggest, $more) = walk($page, $dir);
        cmp_ok $pages, '>', 3, "$name, $dir: several pages ($pages)";
        cmp_ok $biggest, '<=', $max,
            "$name, $dir: no reply above chat_reply_max ($biggest)";
        is_deeply $got, \@sent, "$name, $dir: every message once";
        is_deeply $more, [ (1) x ($pages - 1), 0 ],
            "$name, $dir: has_more on every page but the last";
    }

    # the first page back holds the newest messages
    my ($seqs) = $page->();
    is $seqs->[-1], $sent[-1], "$name: the page back ends at the newest";

    # within before and after: the page keeps the oldest after "after"
    ($seqs, my $more) = $page->(after => $sent[4], before => $sent[-5]);
    is $seqs->[0], $sent[5], "$name: a range page starts after \"after\"";
    ok $more, "$name: and says there is more";
}

# ---- the largest message: a body of control characters (each six bytes
# escaped) and 4 KB of meta, still fits a page on its own
my $body = "\x01" x 2048;
my $meta = '{"k":"' . ('z' x 4088) . '"}';
is length($meta), 4096, 'meta of 4096 bytes';
$alice->send_text(qq({"type":"send","id":"huge","room":"$room",)
                  . '"body":"' . ('\\u0001' x 2048) . qq(","meta":$meta}));
my $h = $alice->wait_for(sub { ($_->{id} // '') eq 'huge' }, 10);
is $h && $h->{type}, 'ok', 'the largest message is stored'
    or diag explain $h;
push @sent, $h->{seq};
$alice->send_text(qq({"type":"send","id":"huge2","room":"$room",)
                  . '"body":"' . ('\\u0001' x 2048) . qq(","meta":$meta}));
$h = $alice->wait_for(sub { ($_->{id} // '') eq 'huge2' }, 10);
is $h && $h->{type}, 'ok', 'twice';
push @sent, $h->{seq};

for my $via ([ 'WebSocket', \&ws_page ], [ 'REST', \&rest_page ]) {
    my ($name, $page) = @$via;
    my ($seqs, $more, $size) = $page->();
    is_deeply $seqs, [ $sent[-1] ], "$name: a page of one largest message";
    ok $more, "$name: with has_more";
    cmp_ok $size, '<=', $max, "$name: within the bound ($size)";
    ($seqs, $more, $size) = $page->(before => $sent[-1]);
    is $seqs->[-1], $sent[-2], "$name: the next page ends at the other one";
    cmp_ok $size, '<=', $max, "$name: within the bound too ($size)";
}

close_all($alice);
$ng->stop;
done_testing;
