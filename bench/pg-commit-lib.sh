# shellcheck shell=bash
# What bench/pg-commit.sh and bench/pg-commit-ab.sh share: the rooms of
# the chat scenario and batches of sends as the module writes them.

# pc_rooms CONNINFO: rooms "pc-p<N>" (1000 of 2 members) and "pc-g<N>"
# (20 of 50), users u0..u1999, created once
pc_rooms() {
    psql "$1" -qtAX -v ON_ERROR_STOP=1 \
        -c "insert into rooms (id, created_by)
                select 'pc-p' || g, 'u' || 2 * g
                  from generate_series(0, 999) g
            union all
                select 'pc-g' || g, 'u' || 50 * g
                  from generate_series(0, 19) g
            on conflict do nothing" \
        -c "insert into members (room_id, user_id)
                select 'pc-p' || u / 2, 'u' || u
                  from generate_series(0, 1999) u
            union all
                select 'pc-g' || u / 50, 'u' || u
                  from generate_series(0, 999) u
            on conflict do nothing" >/dev/null
}

# pc_batches DIR B K: K pgbench scripts DIR/s<n>.sql, each one batch of B
# sends, each from a user to one of its rooms (the same users and rooms
# every time: srand(13)); with PC_CID=1 each send names a client_msg_id
# of its own, as the web client's do, new at each run of the script (a
# random number pgbench draws goes in place of "@"): never a retry
pc_batches() {
    perl -e '
        my ($dir, $b, $k, $cid) = @ARGV;
        srand(13);
        for my $f (1 .. $k) {
            my @e;
            for (1 .. $b) {
                my $u = int(rand(2000));
                my $room = ($u < 1000 && rand() < 0.5)
                         ? "pc-g" . int($u / 50) : "pc-p" . int($u / 2);
                push @e, qq({"room":"$room","from":"u$u","body":")
                       . time() . " $f " . ("x" x 48) . q(")
                       . ($cid ? q(,"cid":"c@-) . rand() . q(") : "")
                       . "}";
            }
            open my $o, ">", "$dir/s$f.sql" or die;
            my $json = "\x27[" . join(",", @e) . "]\x27";
            my $set = "";
            if ($cid) {
                $set = "\\set r random(1, 1000000000000)\n";
                $json = "replace($json, \x27@\x27, :r::text)";
            }
            print $o $set . "select count(*) from chat_send_batch_quota("
                . $json . "::jsonb, true, 6000, 50);\n";
        }' "$1" "$2" "$3" "${PC_CID:-0}"
}
