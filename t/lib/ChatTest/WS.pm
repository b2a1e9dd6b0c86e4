package ChatTest::WS;

# A WebSocket chat client on the Mojo event loop (ws_connect, login): the
# server's frames queue up decoded; requests wait for their reply by id.
# Also: which worker holds a client, and closing clients for good.

use strict;
use warnings;

use Exporter qw(import);
use Mojo::IOLoop;
use Mojo::JSON qw(encode_json decode_json);
use Mojo::UserAgent;
use Time::HiRes ();

use ChatTest::Token qw(token);
use ChatTest::Wait qw(run_loop);

our @EXPORT_OK = qw(ws_connect login next_id worker_of spread_clients
                    close_all);

my $ID = 0;

sub next_id { ++$ID }

my $UA;
sub ua {
    return $UA if $UA;
    $UA = Mojo::UserAgent->new;
    $UA->inactivity_timeout(120);
    $UA->connect_timeout(5);
    $UA->request_timeout(0);
    $UA->max_response_size(16 * 1024 * 1024);
    return $UA;
}

# ws_connect($url, headers => {...}, protocols => [...], token => $jwt,
#            timeout => 5)
# Returns a ChatTest::WS on 101, else the Mojo::Message::Response (or undef
# when the connection failed; $@ then says why).
sub ws_connect {
    my ($url, %o) = @_;
    my %h = %{ $o{headers} // {} };
    $h{Authorization} = "Bearer $o{token}" if defined $o{token};
    my $c = bless { queue => [], closed => 0, frames => [], pings => 0 },
        'ChatTest::WS';
    my ($done, $res);
    my @args = ($url, \%h);
    push @args, $o{protocols} if $o{protocols};
    ua()->websocket(@args => sub {
        my (undef, $tx) = @_;
        $done = 1;
        $res = $tx;
        return unless $tx->is_websocket;
        $c->attach($tx);
    });
    if (!run_loop(sub { $done }, $o{timeout} // 5)) {
        $@ = "ws_connect $url: timeout";
        return undef;
    }
    return $c if $res->is_websocket;
    if (my $err = $res->error) {
        if (!$res->res->code) {
            $@ = "ws_connect $url: $err->{message}";
            return undef;
        }
    }
    return $res->res;
}

# login($nginx_or_url, 'alice', %ws_connect_opts): header auth, waits for
# welcome; returns the client (welcome kept in $c->{welcome}) or dies.
sub login {
    my ($target, $user, %o) = @_;
    my $url = ref $target ? $target->ws_url : $target;
    my $tok = $o{token} // token(sub => $user, %{ $o{claims} // {} });
    my $c = ws_connect($url, %o, token => $tok);
    die "login $user: " . ($@ // 'no connection') . "\n" unless $c;
    die "login $user: HTTP " . $c->code . ' ' . ($c->body // '') . "\n"
        unless $c->isa('ChatTest::WS');
    my $w = $c->wait_for(sub { $_->{type} && $_->{type} eq 'welcome' }, 5);
    die "login $user: no welcome (close " . ($c->{close_code} // '-')
        . ")\n" unless $w;
    $c->{welcome} = $w;
    $c->{user} = $user;
    return $c;
}

# worker_of($nginx, @clients): the pid of the nginx worker holding each
# client's connection (from ss -tnp), undef where ss does not tell; a
# client is a ChatTest::WS or a raw one (ChatTest::Raw).
sub worker_of {
    my ($ng, @c) = @_;
    my %pid;
    my $port = $ng->port;
    for (`ss -tnpH state established '( sport = :$port )' 2>/dev/null`) {
        my (undef, undef, $local, $peer) = split ' ';
        my ($cport) = ($peer // '') =~ /:(\d+)$/ or next;
        $pid{$cport} = $1 if /pid=(\d+)/;
    }
    return map { $pid{ ($_->can('tx') ? $_->tx->local_port
                                      : $_->sock->sockport) // 0 } } @c;
}

# spread_clients($nginx, $min, $open): clients made by $open->($i), $i
# from 1: at least $min, and more until every worker of $nginx holds one
# as worker_of tells (reuseport hashes each connection to a worker at
# random, so a fixed handful can all land on one); 40 at most, which all
# land on one of two workers with odds 2^-39.  Where ss tells no owner,
# $min.
sub spread_clients {
    my ($ng, $min, $open) = @_;
    my $workers = () = $ng->worker_pids;
    my (@c, %on);
    while (@c < $min || (%on && keys %on < $workers && @c < 40)) {
        push @c, $open->(@c + 1);
        my ($pid) = worker_of($ng, $c[-1]);
        $on{$pid} = 1 if defined $pid;
    }
    return @c;
}

# close_all(@ws_clients): closes them and runs the event loop until their
# TCP connections are gone too (so that a following nginx stop does not
# wait for them).
sub close_all {
    my @c = grep { $_ && $_->{tx} } @_;
    my $loop = Mojo::IOLoop->singleton;
    $_->close for @c;
    run_loop(sub {
        !grep { my $id = $_->{tx}->connection;
                $id && $loop->stream($id) } @c
    }, 5);
}

sub attach {
    my ($c, $tx) = @_;
    $c->{tx} = $tx;
    $tx->max_websocket_size(16 * 1024 * 1024);
    $tx->on(text => sub {
        my (undef, $bytes) = @_;
        my $m = eval { decode_json($bytes) };
        $m = { type => '_invalid_json', raw => $bytes }
            unless ref $m eq 'HASH';
        push @{ $c->{queue} }, $m;
    });
    $tx->on(binary => sub {
        push @{ $c->{queue} }, { type => '_binary', raw => $_[1] };
    });
    $tx->on(frame => sub {
        my (undef, $f) = @_;
        $c->{pings}++ if $f->[4] == 9;
    });
    $tx->on(finish => sub {
        my (undef, $code, $reason) = @_;
        $c->{closed} = 1;
        $c->{close_time} = Time::HiRes::time();
        $c->{close_code} = $code;
        $c->{close_reason} = $reason;
    });
}

sub tx       { $_[0]{tx} }
sub protocol { $_[0]{tx}->protocol }
sub res      { $_[0]{tx}->handshake->res }
sub welcome  { $_[0]{welcome} }
sub queue    { $_[0]{queue} }
sub is_open  { !$_[0]{closed} }

sub send_json {
    my ($c, $obj) = @_;
    return 0 if $c->{closed};
    $c->{tx}->send({ text => encode_json($obj) });
    return 1;
}
sub send_text {
    my ($c, $bytes) = @_;
    return 0 if $c->{closed};
    $c->{tx}->send({ text => $bytes });
    return 1;
}
sub send_binary {
    my ($c, $bytes) = @_;
    return 0 if $c->{closed};
    $c->{tx}->send({ binary => $bytes });
    return 1;
}

sub _has_id { exists $_[0]{id} && defined $_[0]{id} }

sub _timeout { my %o = @_ == 1 ? (timeout => $_[0]) : @_; $o{timeout} // 5 }

# Next frame (decoded JSON object), or undef on timeout / close.
sub recv {
    my ($c, @t) = @_;
    run_loop(sub { @{ $c->{queue} } || $c->{closed} },
                       _timeout(@t));
    return shift @{ $c->{queue} };
}

# Runs the loop until a queued or arriving frame matches $pred (with $_
# set) or the connection closes; returns the queue position of the match,
# undef without one.
sub _await {
    my ($c, $pred, @t) = @_;
    my $q = $c->{queue};
    my $pos = 0;
    my $hit;
    my $check = sub {
        return 1 if $hit;
        for (; $pos < @$q; $pos++) {
            local $_ = $q->[$pos];
            if ($pred->($_)) { $hit = 1; return 1 }
        }
        return $c->{closed} ? 1 : 0;
    };
    run_loop($check, _timeout(@t));
    return $hit ? $pos : undef;
}

# First queued or arriving frame for which $pred (with $_ set) is true; the
# others stay queued in order.  undef on timeout or close.
sub wait_for {
    my ($c, $pred, @t) = @_;
    my $pos = $c->_await($pred, @t);
    return defined $pos ? splice(@{ $c->{queue} }, $pos, 1) : undef;
}

# All frames up to and including the first one matching $pred, removed from
# the queue in arrival order.  Without a match: the frames received so far,
# and $c->{last_until_ok} is false.
sub recv_until {
    my ($c, $pred, @t) = @_;
    my $q = $c->{queue};
    my $pos = $c->_await($pred, @t);
    $c->{last_until_ok} = defined $pos ? 1 : 0;
    return splice @$q, 0, defined $pos ? $pos + 1 : scalar @$q;
}

# Sends $msg with a fresh id (unless it has one) and waits for the reply
# with that id.
sub request {
    my ($c, $msg, @t) = @_;
    $msg = { %$msg };
    $msg->{id} //= next_id();
    my $id = $msg->{id};
    $c->send_json($msg) or return undef;
    return $c->wait_for(sub { _has_id($_) && $_->{id} eq $id }, @t);
}

# Sends a join of $room with the fields of %$args and a fresh id; returns
# the frames received before its reply (a replay among them) and the
# reply (undef if none came within the timeout).
sub join_replay {
    my ($c, $room, $args, @t) = @_;
    my $id = next_id();
    $c->send_json({ type => 'join', room => $room, id => $id, %$args });
    my @f = $c->recv_until(sub { ($_->{id} // '') eq $id }, @t);
    my $reply = $c->{last_until_ok} ? pop @f : undef;
    return (\@f, $reply);
}

# Sends all requests at once (each gets a fresh id unless it has one), then
# waits for every reply; returns the replies in request order (undef for a
# request whose reply did not come within the timeout, counted from the
# last reply received).
sub pipeline {
    my ($c, $msgs, @t) = @_;
    my @ids;
    for my $m (@$msgs) {
        my %m = %$m;
        $m{id} //= next_id();
        push @ids, $m{id};
        $c->send_json(\%m) or last;
    }
    return $c->collect_replies(\@ids, @t);
}

sub collect_replies {
    my ($c, $ids, @t) = @_;
    my %want = map { $_ => 1 } @$ids;
    my %got;
    while (keys %want) {
        my $r = $c->wait_for(sub { _has_id($_) && $want{ $_->{id} } }, @t)
            or last;
        delete $want{ $r->{id} };
        $got{ $r->{id} } = $r;
    }
    return map { $got{$_} } @$ids;
}

# Queued `message` events (optionally of one room), removed from the queue.
sub take_messages {
    my ($c, $room) = @_;
    my (@m, @rest);
    for (@{ $c->{queue} }) {
        if (($_->{type} // '') eq 'message'
            && (!defined $room || ($_->{room} // '') eq $room)) {
            push @m, $_;
        } else {
            push @rest, $_;
        }
    }
    @{ $c->{queue} } = @rest;
    return @m;
}

# Waits until $n `message` events of $room are queued (counting those
# already queued); returns them (removed) in arrival order.
sub wait_messages {
    my ($c, $room, $n, @t) = @_;
    my $count = sub {
        scalar grep { ($_->{type} // '') eq 'message'
                      && ($_->{room} // '') eq $room } @{ $c->{queue} }
    };
    run_loop(sub { $count->() >= $n || $c->{closed} }, _timeout(@t));
    return $c->take_messages($room);
}

sub closed {
    my ($c, @t) = @_;
    run_loop(sub { $c->{closed} }, _timeout(@t));
    return $c->{closed};
}

sub close_code {
    my ($c, @t) = @_;
    $c->closed(@t);
    return $c->{close_code};
}

sub close_reason { $_[0]{close_reason} }

sub close {
    my ($c, $code, $reason) = @_;
    return if $c->{closed};
    $c->{tx}->finish($code // 1000, $reason);
}

# Lets pending I/O happen for a moment (used only where the test checks
# that something does NOT arrive, after a round trip proved the server has
# handled what came before).
sub settle {
    my ($c, $t) = @_;
    run_loop(sub { 0 }, $t // 0.2);
}

# Drops the TCP connection without a close frame (a client that vanishes).
sub drop {
    my $c = shift;
    return if $c->{closed};
    my $loop = Mojo::IOLoop->singleton;
    my $stream = $loop->stream($c->{tx}->connection);
    $stream ? $stream->close : $loop->remove($c->{tx}->connection);
    run_loop(sub { $c->{closed} }, 5);
}

1;
