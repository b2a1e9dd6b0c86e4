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
# every time: srand(13))
pc_batches() {
    perl -e '
        my ($dir, $b, $k) = @ARGV;
        srand(13);
        for my $f (1 .. $k) {
            my @e;
            for (1 .. $b) {
                my $u = int(rand(2000));
                my $room = ($u < 1000 && rand() < 0.5)
                         ? "pc-g" . int($u / 50) : "pc-p" . int($u / 2);
                push @e, qq({"room":"$room","from":"u$u","body":")
                       . time() . " $f " . ("x" x 48) . q("});
            }
            open my $o, ">", "$dir/s$f.sql" or die;
            print $o "select count(*) from chat_send_batch_quota(\x27["
                . join(",", @e) . "]\x27::jsonb, true, 6000, 50);\n";
        }' "$1" "$2" "$3"
}
