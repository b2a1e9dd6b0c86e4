package Chaos::Check;

# After a scenario: what PostgreSQL holds for its rooms, compared with what
# the clients attempted, were acknowledged, and received.

use strict;
use warnings;

use Mojo::JSON qw(decode_json);

use ChatTest::Backends qw(psql);

# storage($conninfo, \@rooms): { rooms => {room => last_rev},
#   messages => [rows], events => {room => {rev => event}} }
sub storage {
    my ($conninfo, $rooms) = @_;
    my $in = join ',', map { "'$_'" } @$rooms;
    my $j = psql($conninfo, <<"SQL");
select json_build_object(
  'rooms', (select coalesce(json_object_agg(id, last_rev), '{}')
              from rooms where id in ($in)),
  'messages', (select coalesce(json_agg(json_build_object(
                 'room', room_id, 'seq', seq, 'rev', rev, 'msg_id', msg_id,
                 'from', sender, 'body', body, 'client_msg_id', client_msg_id,
                 'deleted', deleted, 'edited_at', edited_at)), '[]')
               from messages where room_id in ($in)),
  'events', (select coalesce(json_agg(json_build_object(
                 'room', room_id, 'rev', rev, 'kind', kind,
                 'event', event)), '[]')
             from chat_room_events where room_id in ($in)))
SQL
    my $d = decode_json($j);
    my %ev;
    $ev{ $_->{room} }{ $_->{rev} } = $_ for @{ $d->{events} };
    $d->{events} = \%ev;
    return $d;
}

# figures(\%log, \@receivers, $storage): the scenario's table (a hash of
# figures, with per receiver figures under receivers) and notes on what
# went wrong
sub figures {
    my ($log, $receivers, $st) = @_;
    my (%f, @notes);
    my %by_rev;         # room -> rev -> stored message
    my %by_seq;         # room -> seq -> stored message
    my %by_cmid;        # cmid -> [stored messages]
    for my $m (@{ $st->{messages} }) {
        $by_rev{ $m->{room} }{ $m->{rev} } = $m;
        $by_seq{ $m->{room} }{ $m->{seq} } = $m;
        push @{ $by_cmid{ $m->{client_msg_id} } }, $m
            if defined $m->{client_msg_id};
    }
    my $sends = $log->{sends};
    $f{attempted} = keys %$sends;
    $f{acknowledged} = grep { $_->{acked} } values %$sends;
    $f{lost} = 0;
    $f{dup_storage} = 0;
    $f{stored_unacked} = 0;
    for my $cmid (sort keys %$sends) {
        my $s = $sends->{$cmid};
        my @rows = grep { $_->{room} eq $s->{room} && $_->{from} eq $s->{user} }
            @{ $by_cmid{$cmid} // [] };
        if (@rows > 1) {
            $f{dup_storage}++;
            push @notes, "$cmid stored " . scalar(@rows) . ' times';
        }
        if ($s->{acked}) {
            my $a = $s->{acked};
            if (!grep { $_->{seq} == $a->{seq} && $_->{msg_id} == $a->{msg_id} }
                @rows) {
                $f{lost}++;
                push @notes, "$cmid acknowledged as seq $a->{seq} "
                    . "msg_id $a->{msg_id}, not stored so";
            }
        } elsif (@rows) {
            $f{stored_unacked}++;
        }
    }
    # sends of one connection, answered at their first attempt, in the
    # order they were sent
    $f{out_of_order} = 0;
    for my $k (sort keys %{ $log->{conn_order} // {} }) {
        my @s = sort { $a->[0] <=> $b->[0] } @{ $log->{conn_order}{$k} };
        for my $i (1 .. $#s) {
            next if $s[$i][1] > $s[$i - 1][1];
            $f{out_of_order}++;
            push @notes, "$s[$i][2] sent after $s[$i - 1][2] on one "
                . "connection, committed before it";
        }
    }
    # edits and deletes acknowledged: stored at the rev answered
    $f{changes_lost} = 0;
    for my $c (@{ $log->{changes} // [] }) {
        my $m = $by_seq{ $c->{room} }{ $c->{seq} };
        my $ev = $st->{events}{ $c->{room} }{ $c->{rev} // 0 };
        my $e = $ev ? $ev->{event} : {};
        my $want = $c->{type} eq 'edit' ? 'edited' : 'deleted';
        my $ok = $m && ($e->{type} // '') eq $want
            && ($e->{seq} // 0) == $c->{seq}
            && ($c->{type} eq 'delete' ? $m->{deleted}
                : $e->{deleted} || ($e->{body} // '') eq $c->{body});
        next if $ok;
        $f{changes_lost}++;
        push @notes, "$c->{type} of $c->{room} seq $c->{seq} acknowledged "
            . 'with rev ' . ($c->{rev} // 'none') . ', not stored so';
    }
    # the storage itself: every rev from 1 to the room's last, once
    $f{storage_gaps} = 0;
    for my $room (sort keys %{ $st->{rooms} }) {
        for my $rev (1 .. $st->{rooms}{$room}) {
            my $n = ($by_rev{$room}{$rev} ? 1 : 0)
                  + ($st->{events}{$room}{$rev} ? 1 : 0);
            next if $n == 1;
            $f{storage_gaps}++;
            push @notes, "$room rev $rev stored $n times";
        }
    }
    for my $r (@$receivers) {
        $f{receivers}{ $r->{user} } = receiver($r, $log, $st, \%by_rev,
                                               \@notes);
    }
    return (\%f, \@notes);
}

sub receiver {
    my ($r, $log, $st, $by_rev, $notes) = @_;
    my %t = (%{ $r->{tally} }, gaps => 0, unexpected => 0, final => 0);
    my $who = $r->{user};
    for my $room (sort keys %{ $r->{rooms_state} }) {
        my $rs = $r->{rooms_state}{$room};
        my $last = $st->{rooms}{$room} // 0;
        for my $rev (1 .. $last) {
            next if $rs->{seen}{$rev};
            $t{gaps}++;
            push @$notes, "$who: $room rev $rev never received"
                if $t{gaps} <= 5;
        }
        my %view;       # seq -> [body, deleted] as last seen
        for my $e (@{ $rs->{events} }) {
            my $why = unexpected($e, $log, $st, $by_rev);
            if ($why) {
                $t{unexpected}++;
                push @$notes, "$who: $room rev $e->{rev}: $why"
                    if $t{unexpected} <= 5;
            }
            if ($e->{type} eq 'message') {
                $view{ $e->{seq} } = [$e->{body}, $e->{deleted} ? 1 : 0];
            } elsif ($e->{type} eq 'edited' && !$e->{deleted}) {
                $view{ $e->{seq} }[0] = $e->{body};
            } elsif ($e->{type} eq 'deleted') {
                $view{ $e->{seq} } = [undef, 1];
            }
        }
        for my $m (grep { $_->{room} eq $room } @{ $st->{messages} }) {
            my $v = $view{ $m->{seq} } // [];
            my $same = ($v->[1] // -1) == ($m->{deleted} ? 1 : 0)
                && ($m->{deleted} || ($v->[0] // '') eq ($m->{body} // ''));
            next if $same;
            $t{final}++;
            push @$notes, "$who: $room seq $m->{seq} last seen as "
                . ($v->[1] ? 'deleted' : "'" . ($v->[0] // 'nothing') . "'")
                . ', stored as '
                . ($m->{deleted} ? 'deleted' : "'$m->{body}'")
                if $t{final} <= 5;
        }
    }
    return \%t;
}

# why an event received is not one that was produced and stored as such
sub unexpected {
    my ($e, $log, $st, $by_rev) = @_;
    my ($room, $rev) = ($e->{room}, $e->{rev});
    if ($e->{type} eq 'message') {
        my $m = $by_rev->{$room}{$rev} or return 'no such message stored';
        for my $k (qw(seq msg_id from)) {
            return "$k $e->{$k}, stored $m->{$k}"
                if ($e->{$k} // '') ne ($m->{$k} // '');
        }
        my $cmid = $e->{client_msg_id} // '';
        my $s = $log->{sends}{$cmid} or return "client_msg_id '$cmid' "
            . 'was never sent';
        return 'client_msg_id differs' if ($m->{client_msg_id} // '') ne $cmid;
        return undef if $e->{deleted} && !defined $e->{body};
        my $b = $e->{body} // '';
        return undef if $b eq $s->{body};
        return undef if $log->{edit_bodies}{$room}{ $e->{seq} }{$b};
        return "body '$b' was never sent";
    }
    my $ev = $st->{events}{$room}{$rev} or return "no $e->{type} event stored";
    my $stored = $ev->{event};
    # an edit of a message deleted since is stored without its body
    return undef if $e->{type} eq 'edited' && $stored->{deleted};
    for my $k (sort keys %$stored) {
        return "$k differs from storage"
            if _text($e->{$k}) ne _text($stored->{$k});
    }
    for my $k (sort keys %$e) {
        return "$k not in storage" unless exists $stored->{$k};
    }
    return undef;
}

sub _text {
    my $v = shift;
    return 'undef' unless defined $v;
    return ref $v ? Mojo::JSON::encode_json($v) : "$v";
}

1;
