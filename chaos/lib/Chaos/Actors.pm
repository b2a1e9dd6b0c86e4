package Chaos::Actors;

# The clients of a chaos run, all on the Mojo event loop of one process:
#
#   sender     a WebSocket user sending, editing and deleting its own
#              messages; each operation is retried (the same client_msg_id
#              for a send) until it is answered, reconnecting to either
#              host whenever its connection drops or stalls
#   rest       a user sending over REST, retrying the same way
#   moderator  the rooms' owner, over REST: adds and kicks, mutes and
#              unmutes, and changes the role of bystanders
#   receiver   a WebSocket user joined to every room, keeping the last rev
#              it saw per room and rejoining with since_rev after any
#              disconnect; it records every durable event it gets
#
# Every operation a client attempts and every answer it gets is recorded in
# the shared log ($log), which Chaos::Check compares with PostgreSQL.

use strict;
use warnings;

use List::Util qw(shuffle);
use Mojo::IOLoop;
use Mojo::JSON qw(encode_json decode_json);
use Mojo::UserAgent;
use Time::HiRes qw(time);

use ChatTest::Token qw(token);

my $STALL = 10;     # s without an answer: the connection is given up

my $UA;
sub ua {
    return $UA if $UA;
    $UA = Mojo::UserAgent->new;
    $UA->inactivity_timeout(0);
    $UA->connect_timeout(3);
    $UA->request_timeout($STALL);
    return $UA;
}

sub loop { Mojo::IOLoop->singleton }

# (the actor is $a in this file: sort's own variables by their full name)
sub by_number { $Chaos::Actors::a <=> $Chaos::Actors::b }

# Chaos::Actors->new(kind => 'sender', user => 'u1', hosts => [$ng, ...],
#                    rooms => [...], log => $log, tag => 'scenario')
sub new {
    my ($class, %o) = @_;
    my $a = bless { %o, seq => 0, reconnects => 0, stalls => 0,
                    ops => {}, conn => undef, stopped => 0 }, $class;
    $a->{window} //= 1;
    $a->{token} = token(sub => $a->{user}, ttl => 86400);
    $a->{host} = int rand @{ $a->{hosts} };
    if ($a->{kind} eq 'receiver') {
        $a->{rooms_state} = { map { $_ => { last => 0, max => 0, seen => {},
                                            events => [] } } @{ $a->{rooms} } };
        $a->{tally} = { delivered => 0, duplicated => 0, reordered => 0,
                        truncated => 0 };
    }
    return $a;
}

sub start {
    my $a = shift;
    if ($a->{kind} eq 'sender' || $a->{kind} eq 'receiver') {
        $a->connect;
        $a->{ping} = loop->recurring(1 => sub { $a->watchdog });
    }
    if ($a->{kind} ne 'receiver') {
        $a->next_op for 1 .. $a->{window};
    }
    return $a;
}

# the draining phase: no new operation; those in flight are finished
sub stop_new { $_[0]{stopped} = 1 }

sub idle { !%{ $_[0]{ops} } }

sub shutdown {
    my $a = shift;
    loop->remove($a->{ping}) if $a->{ping};
    delete $a->{ping};
    $a->{dead} = 1;
    $a->{conn}->finish if $a->{conn};
}

sub url {
    my ($a, $path) = @_;
    my $ng = $a->{hosts}[ $a->{host} ];
    return $path eq 'ws' ? $ng->ws_url : $ng->api_url . $path;
}

# ---- WebSocket connection (senders and receivers) ----------------------

sub connect {
    my $a = shift;
    return if $a->{dead} || $a->{connecting};
    $a->{connecting} = 1;
    $a->{welcomed} = 0;
    $a->{last_heard} = time;
    my $gen = ++$a->{gen};
    ua()->websocket($a->url('ws') => { Authorization => "Bearer $a->{token}" }
                    => sub {
        my (undef, $tx) = @_;
        return unless $gen == $a->{gen};
        $a->{connecting} = 0;
        if (!$tx->is_websocket) {
            $a->lost($gen);
            return;
        }
        $a->{conn} = $tx;
        $tx->max_websocket_size(64 * 1024 * 1024);
        $tx->on(text => sub { $a->frame($gen, $_[1]) });
        $tx->on(finish => sub { $a->lost($gen) });
    });
}

# the connection is gone (or never came): another, on a random host, soon
sub lost {
    my ($a, $gen) = @_;
    return unless $gen == $a->{gen};
    $a->{gen}++;
    $a->{connecting} = 0;
    my $old = delete $a->{conn};
    $old->finish if $old && !$old->is_finished;
    return if $a->{dead};
    $a->{reconnects}++;
    $a->{host} = int rand @{ $a->{hosts} };
    loop->timer(0.05 + rand 0.3 => sub { $a->connect });
}

# moves to the other host now (a receiver hopping)
sub hop {
    my $a = shift;
    return unless $a->{conn};
    my $gen = $a->{gen};
    $a->lost($gen);
    $a->{host} = ($a->{host} + 1) % @{ $a->{hosts} };
}

sub send_frame {
    my ($a, $obj) = @_;
    return 0 unless $a->{conn} && $a->{welcomed};
    $a->{conn}->send({ text => encode_json($obj) });
    return 1;
}

sub watchdog {
    my $a = shift;
    return unless $a->{conn} && !$a->{dead};
    if (time - $a->{last_heard} > $STALL) {
        $a->{stalls}++;
        push @{ $a->{log}{stall_notes} },
            sprintf('%s: nothing heard for %ds from host %d',
                    $a->{user}, $STALL, $a->{host});
        $a->lost($a->{gen});
        return;
    }
    $a->send_frame({ type => 'ping', id => 'ping' }) if $a->{welcomed};
}

sub frame {
    my ($a, $gen, $bytes) = @_;
    return unless $gen == $a->{gen};
    $a->{last_heard} = time;
    my $m = eval { decode_json($bytes) };
    if (ref $m ne 'HASH') {
        push @{ $a->{log}{unexpected_frames} }, "$a->{user}: $bytes";
        return;
    }
    my $type = $m->{type} // '';
    if ($type eq 'welcome') {
        $a->{welcomed} = 1;
        if ($a->{kind} eq 'receiver') {
            $a->join_all;
        } else {
            $a->resend($_) for sort by_number keys %{ $a->{ops} };
        }
        return;
    }
    return $a->receiver_frame($m) if $a->{kind} eq 'receiver';
    $a->reply($m) if defined $m->{id} && $m->{id} ne 'ping';
}

# ---- operations (senders, REST senders, the moderator) -----------------

# a new operation soon, while fewer than the window are in flight
sub next_op {
    my $a = shift;
    return if $a->{dead} || $a->{stopped};
    my $delay = $a->{pace} // 0.05;
    loop->timer($delay * (0.5 + rand) => sub {
        return if $a->{stopped} || $a->{dead}
            || keys %{ $a->{ops} } >= $a->{window};
        my $op = $a->new_op;
        $op->{n} = ++$a->{opn};
        $op->{attempts} = 0;
        $a->{ops}{ $op->{n} } = $op;
        $a->resend($op->{n});
    });
}

sub current {
    my ($a, $op) = @_;
    my $cur = $a->{ops}{ $op->{n} };
    return $cur && $cur == $op;
}

sub new_op {
    my $a = shift;
    my $log = $a->{log};
    my @rooms = @{ $a->{rooms} };
    my $room = $rooms[ rand @rooms ];
    return $a->moderation_op($room) if $a->{kind} eq 'moderator';
    my $mine = $log->{own}{ $a->{user} } //= [];
    my $r = rand;
    if ($a->{kind} eq 'sender' && @$mine && $r < 0.2) {
        my $m = $mine->[ rand @$mine ];
        if ($r < 0.14) {
            my $body = sprintf 'edit %s %d', $m->{cmid}, ++$a->{seq};
            $log->{edit_bodies}{ $m->{room} }{ $m->{seq} }{$body} = 1;
            $log->{edits}{attempted}++;
            return { kind => 'edit', frame => { type => 'edit',
                room => $m->{room}, seq => $m->{seq}, body => $body } };
        }
        $log->{deletes}{attempted}++;
        return { kind => 'delete', frame => { type => 'delete',
            room => $m->{room}, seq => $m->{seq} } };
    }
    my $cmid = sprintf '%s-%s-%d', $a->{tag}, $a->{user}, ++$a->{seq};
    my $body = "body of $cmid " . ('x' x int rand 40);
    $log->{sends}{$cmid} = { room => $room, user => $a->{user},
                             body => $body, via => $a->{kind} };
    return { kind => 'send', cmid => $cmid, room => $room,
             frame => { type => 'send', room => $room, body => $body,
                        client_msg_id => $cmid } };
}

# bystanders b1 (added, kicked), b2 (muted, unmuted), b3 (made moderator,
# member again), b4 (banned, unbanned), each step in turn per room
sub moderation_op {
    my ($a, $room) = @_;
    my @steps = (
        ['PUT', "/rooms/$room/members/b1", {}],
        ['PUT', "/rooms/$room/members/b3", {}],
        ['POST', "/rooms/$room/mutes/b2", {}],
        ['PUT', "/rooms/$room/members/b3", { role => 'moderator' }],
        ['POST', "/rooms/$room/bans/b4", {}],
        ['DELETE', "/rooms/$room/members/b1"],
        ['DELETE', "/rooms/$room/mutes/b2"],
        ['PUT', "/rooms/$room/members/b3", { role => 'member' }],
        ['DELETE', "/rooms/$room/bans/b4"],
    );
    my $k = $a->{modstep}{$room}++ % @steps;
    $a->{log}{moderation}{attempted}++;
    return { kind => 'moderation', rest => $steps[$k] };
}

# (re)sends an operation in flight, with a new request id
sub resend {
    my ($a, $n) = @_;
    my $op = $a->{ops}{$n} or return;
    return if $a->{dead};
    $op->{attempts}++;
    if ($a->{kind} ne 'sender') {
        return $a->rest_attempt($op);
    }
    return unless $a->{conn} && $a->{welcomed};
    my $id = sprintf 'r%d', ++$a->{reqid};
    $op->{ids}{$id} = 1;
    $op->{gen_sent} = $a->{gen};
    $a->{byid}{$id} = $op;
    $a->send_frame({ %{ $op->{frame} }, id => $id });
    my $gen = $a->{gen};
    loop->remove($op->{timer}) if $op->{timer};
    $op->{timer} = loop->timer($STALL => sub {
        return unless $a->current($op) && $gen == $a->{gen};
        $a->{stalls}++;
        push @{ $a->{log}{stall_notes} },
            "$a->{user}: no answer to $op->{kind} in ${STALL}s";
        $a->lost($gen);
    });
}

sub reply {
    my ($a, $m) = @_;
    my $op = delete $a->{byid}{ $m->{id} };
    return unless $op && $a->current($op);
    my $type = $m->{type} // '';
    if ($type eq 'error') {
        return $a->retry_later($op, $m->{code}, $m->{retry_after});
    }
    $a->done($op, $m);
}

sub retry_later {
    my ($a, $op, $code, $after) = @_;
    $code //= 'none';
    $a->{log}{retries}{$code}++;
    if ($op->{kind} eq 'edit' || $op->{kind} eq 'delete') {
        # an edit of a message deleted meanwhile: answered for good
        return $a->done($op, undef) if $code eq 'conflict';
    }
    if ($code eq 'forbidden' || $code eq 'bad_request'
        || $code eq 'not_found' || $code eq 'too_large') {
        push @{ $a->{log}{refused} }, "$a->{user} $op->{kind}"
            . ($op->{rest} ? " @{ $op->{rest} }[0, 1]" : '') . ": $code";
        return $a->done($op, undef);
    }
    loop->remove($op->{timer}) if $op->{timer};
    my $wait = $after ? $after : 0.1 + rand 0.3;
    my $gen = $a->{gen};
    $op->{timer} = loop->timer($wait => sub {
        $a->resend($op->{n}) if $a->current($op);
    });
}

sub done {
    my ($a, $op, $m) = @_;
    loop->remove($op->{timer}) if $op->{timer};
    delete $a->{ops}{ $op->{n} };
    delete $a->{byid}{$_} for keys %{ $op->{ids} // {} };
    my $log = $a->{log};
    if ($m && $op->{kind} eq 'send') {
        ack_send($log, $op->{cmid}, $m);
        $log->{sends}{ $op->{cmid} }{attempts} = $op->{attempts};
        if ($a->{kind} eq 'sender') {
            push @{ $log->{own}{ $a->{user} } },
                { cmid => $op->{cmid}, room => $op->{room},
                  seq => $m->{seq} };
            # sends of one connection are committed in the order sent
            push @{ $log->{conn_order}{"$a->{user} $op->{gen_sent} "
                                       . $op->{room}} },
                [$op->{n}, $m->{seq}, $op->{cmid}]
                if $op->{attempts} == 1;
        }
    } elsif ($m) {
        $log->{ $op->{kind} eq 'edit' ? 'edits'
               : $op->{kind} eq 'delete' ? 'deletes' : 'moderation' }
            {acknowledged}++;
        push @{ $log->{changes} }, { %{ $op->{frame} }, rev => $m->{rev} }
            if $op->{frame};
    }
    $a->next_op;
}

# every acknowledgement of a client_msg_id names the same message
sub ack_send {
    my ($log, $cmid, $m) = @_;
    my $s = $log->{sends}{$cmid};
    if ($s->{acked} && ($s->{acked}{seq} != $m->{seq}
                        || $s->{acked}{msg_id} != $m->{msg_id})) {
        push @{ $log->{ack_conflicts} }, "$cmid: acknowledged as seq "
            . "$s->{acked}{seq}, then as seq $m->{seq}";
    } elsif ($s->{acked}) {
        $log->{acked_again}++;
    }
    $s->{acked} = { seq => $m->{seq}, msg_id => $m->{msg_id} };
}

# a REST send goes to every host at once (the same client_msg_id racing
# itself on two hosts); other calls to one host
sub rest_attempt {
    my ($a, $op) = @_;
    my @to = $op->{kind} eq 'send' ? (0 .. $#{ $a->{hosts} })
                                   : (int rand @{ $a->{hosts} });
    $a->rest_call($op, $_) for @to;
}

sub rest_call {
    my ($a, $op, $host) = @_;
    my ($method, $path, $body);
    if ($op->{kind} eq 'send') {
        ($method, $path) = ('POST', "/rooms/$op->{room}/messages");
        $body = { body => $op->{frame}{body},
                  client_msg_id => $op->{cmid} };
    } else {
        ($method, $path, $body) = @{ $op->{rest} };
    }
    $a->{host} = $host;
    my $tx = ua()->build_tx($method => $a->url($path)
        => { Authorization => "Bearer $a->{token}" }
        => ($body ? (json => $body) : ()));
    ua()->start($tx => sub {
        my (undef, $tx) = @_;
        my $res = $tx->res;
        my $code = $res->code // 0;
        my $j = eval { decode_json($res->body) } if length($res->body // '');
        if (!$a->current($op)) {
            # the other host answered first
            ack_send($a->{log}, $op->{cmid}, $j)
                if $code == 201 && $op->{kind} eq 'send';
            return;
        }
        if ($code =~ /^20[014]$/) {
            return $a->done($op, $op->{kind} eq 'send' ? $j : {});
        }
        my $err = ref $j eq 'HASH' && ref $j->{error} eq 'HASH'
            ? $j->{error}{code} : $code ? "http$code" : 'connection';
        $a->retry_later($op, $err, $res->headers->header('Retry-After'));
    });
}

# ---- receivers --------------------------------------------------------

sub join_all {
    my $a = shift;
    for my $room (@{ $a->{rooms} }) {
        my $st = $a->{rooms_state}{$room};
        $a->{joins}{$room} = 0;
        $a->send_frame({ type => 'join', id => "join $room", room => $room,
                         since_rev => $st->{last} });
    }
}

sub joined_all {
    my $a = shift;
    return 0 unless $a->{conn} && $a->{welcomed};
    return !grep { !$a->{joins}{$_} } @{ $a->{rooms} };
}

sub receiver_frame {
    my ($a, $m) = @_;
    my $type = $m->{type} // '';
    if (defined $m->{id}) {
        my ($room) = $m->{id} =~ /^join (.+)$/;
        return unless defined $room;
        if ($type ne 'ok') {
            # unavailable while a backend is down: try again
            $a->{log}{retries}{"join $m->{code}"}++;
            my $gen = $a->{gen};
            loop->timer(0.3 => sub {
                return if $gen != $a->{gen} || $a->{joins}{$room};
                $a->send_frame({ type => 'join', id => "join $room",
                    room => $room,
                    since_rev => $a->{rooms_state}{$room}{last} });
            });
            return;
        }
        $a->{tally}{truncated}++ if $m->{truncated};
        $a->{joins}{$room} = 1;
        return;
    }
    return unless defined $m->{rev} && defined $m->{room};
    my $st = $a->{rooms_state}{ $m->{room} } or return;
    my $t = $a->{tally};
    my $rev = $m->{rev};
    $t->{delivered}++;
    push @{ $st->{events} }, $m;
    if ($st->{seen}{$rev}++) {
        $t->{duplicated}++;
        return;
    }
    $t->{reordered}++ if $rev < $st->{max};
    $st->{max} = $rev if $rev > $st->{max};
    # the rev to rejoin from: the last of the uninterrupted run
    $st->{last} = $rev if $rev > $st->{last};
}

1;
