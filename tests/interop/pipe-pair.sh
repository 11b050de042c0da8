#!/usr/bin/env bash
# pipe-pair.sh A_CMD B_CMD
#
# Runs two `pinhole connect`-style line-protocol processes wired to each other: A's stdout
# feeds B's stdin and B's stdout feeds A's stdin (through FIFOs). Each command is a shell
# command string (run with `bash -c`), e.g.
#
#   tests/interop/pipe-pair.sh \
#     'target/libnice-adapter --controlling --host-only --bind 127.0.0.1 --send ping --expect pong' \
#     'target/debug/pinhole connect --controlled --host-only --bind 127.0.0.1 --send pong --expect ping'
#
# Every process is bounded by coreutils `timeout` (PIPE_PAIR_TIMEOUT seconds, default 60).
# Exit 0 if both sides exit 0; otherwise 1, after printing both sides' exit status, stdout
# transcript and stderr on stderr. On success both transcripts go to stdout ("A> ", "B> ").
# PIPE_PAIR_KEEP=1 keeps the work directory (its path is printed on stderr).
set -uo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 A_CMD B_CMD" >&2
    exit 2
fi
a_cmd="$1"
b_cmd="$2"
limit="${PIPE_PAIR_TIMEOUT:-60}"

dir="$(mktemp -d "${TMPDIR:-/tmp}/pipe-pair.XXXXXX")"
pids=()
cleanup() {
    stop A
    stop B
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    if [ "${PIPE_PAIR_KEEP:-0}" = 1 ]; then
        echo "pipe-pair: logs kept in $dir" >&2
    else
        rm -rf "$dir"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkfifo "$dir/a.in" "$dir/b.in"

# side NAME CMD IN OUT: runs CMD with stdin from fifo IN; its stdout is copied to
# NAME.out (the transcript) and into fifo OUT (the peer's stdin). `tee -p` keeps going if the
# peer has already exited, so a lingering side never dies of SIGPIPE.
side() {
    local name="$1" cmd="$2" in="$3" out="$4"
    {
        timeout --kill-after=3 "$limit" bash -c "$cmd" <"$in" 2>"$dir/$name.err" &
        echo $! >"$dir/$name.pid"
        wait $!
        echo $? >"$dir/$name.rc"
    } | tee -p "$dir/$name.out" >"$out"
}

# Stops side NAME's command (SIGTERM to `timeout`, which forwards it).
stop() {
    local pid
    pid="$(cat "$dir/$1.pid" 2>/dev/null)" && [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
}

start=$(date +%s.%N)
side A "$a_cmd" "$dir/a.in" "$dir/b.in" &
pids+=($!)
side B "$b_cmd" "$dir/b.in" "$dir/a.in" &
pids+=($!)

# Wait for both. `timeout` bounds each command; this bounds the plumbing too. Once one side
# has failed the pair has failed: the other gets FAILURE_GRACE seconds, then is stopped.
failure_grace=2
deadline=$(( $(date +%s) + limit + 10 ))
stopped=0
while kill -0 "${pids[0]}" 2>/dev/null || kill -0 "${pids[1]}" 2>/dev/null; do
    now=$(date +%s)
    if [ "$stopped" = 0 ]; then
        for n in A B; do
            rc="$(cat "$dir/$n.rc" 2>/dev/null)"
            if [ -n "$rc" ] && [ "$rc" != 0 ] && [ "$deadline" -gt $((now + failure_grace)) ]; then
                deadline=$((now + failure_grace))
            fi
        done
    fi
    if [ "$now" -ge "$deadline" ]; then
        if [ "$stopped" = 0 ]; then
            stop A
            stop B
            stopped=1
            deadline=$((now + 5))
        else
            echo "pipe-pair: plumbing still running; killing" >&2
            for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
            break
        fi
    fi
    sleep 0.05
done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
elapsed=$(printf '%.2f' "$(echo "$(date +%s.%N) - $start" | bc)")

rc_a="$(cat "$dir/A.rc" 2>/dev/null || echo none)"
rc_b="$(cat "$dir/B.rc" 2>/dev/null || echo none)"

describe() {
    local name="$1" cmd="$2" rc="$3"
    local note=""
    [ "$rc" = 124 ] && note=" (killed by timeout after ${limit}s)"
    [ "$rc" = 143 ] && note=" (stopped: the other side had failed)"
    echo "===== $name: $cmd"
    echo "===== $name exit status: $rc$note"
    echo "----- $name stdout -----"
    cat "$dir/$name.out" 2>/dev/null
    echo "----- $name stderr -----"
    cat "$dir/$name.err" 2>/dev/null
}

if [ "$rc_a" = 0 ] && [ "$rc_b" = 0 ]; then
    sed 's/^/A> /' "$dir/A.out"
    sed 's/^/B> /' "$dir/B.out"
    echo "pipe-pair: both sides exited 0 (${elapsed}s)" >&2
    exit 0
fi
{
    describe A "$a_cmd" "$rc_a"
    describe B "$b_cmd" "$rc_b"
    echo "pipe-pair: FAILED: A exited $rc_a, B exited $rc_b (${elapsed}s)"
} >&2
exit 1
