# Shell functions shared by scripts/stack.sh and t/lib/backends.sh (sourced).
#
# PostgreSQL runs as the postgres user and nginx workers as nobody: both
# must be able to enter the directories they use.  A directory that they
# cannot enter (a checkout under root's home, which is mode 0700) keeps
# its state in $CHAT_STATE_BASE/<its path>-<hash> instead, and becomes a
# symbolic link to it, so that everything else still finds the state
# where it looks for it.

CHAT_STATE_BASE=${CHAT_STATE_BASE:-/var/lib/ngx_chat}

# PostgreSQL's tools, run from a working directory the postgres user may
# enter
as_pg() { (cd / && runuser -u postgres -- "$@"); }

pid_alive() {
    local pid=${1:-} st
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
    st=$(sed 's/^.*) \(.\).*/\1/' "/proc/$pid/stat" 2>/dev/null) || return 1
    [ "$st" != Z ]
}

# true when the postgres user and nobody (nginx's workers) can reach PATH
# with the given test (-x: enter a directory, -r: read a file)
reachable() {
    local op=$1 path=$2
    (cd / && runuser -u postgres -- test "$op" "$path" \
        && runuser -u nobody -- test "$op" "$path") 2>/dev/null
}

# state_dir DIR (absolute): prints the directory that holds DIR's state,
# which is DIR itself when the postgres user and nobody can enter its
# parent, else a directory under $CHAT_STATE_BASE that DIR links to.
# Creates what is missing.
state_dir() {
    local dir=$1 real name
    if [ -L "$dir" ]; then
        real=$(readlink -m "$dir")
    elif reachable -x "$(dirname "$dir")"; then
        mkdir -p "$dir"
        echo "$dir"
        return 0
    else
        name=$(printf '%s' "$dir" | sed 's|^/||; s|[^A-Za-z0-9._-]|-|g' \
            | cut -c1-80)
        real=$CHAT_STATE_BASE/$name-$(printf '%s' "$dir" | sha256sum \
            | cut -c1-8)
        mkdir -p "$(dirname "$dir")" "$CHAT_STATE_BASE"
        chmod 755 "$CHAT_STATE_BASE"
        if [ -d "$dir" ]; then
            # state from before this rule: move it out, or keep it apart
            if [ -e "$real" ]; then
                mv "$dir" "$dir.old.$$"
                echo "moved $dir aside to $dir.old.$$" >&2
            else
                mv "$dir" "$real"
            fi
        fi
        ln -sfn "$real" "$dir"
    fi
    mkdir -p "$real"
    chmod 755 "$real"
    echo "$real"
}
