#!/bin/sh
# System calls per request of the epoll ceiling (`netpoll-bench serve`) and its io_uring variant
# (`serve --uring`) on the #16 rows: each server once per row under `strace -c -f`, the load
# generator's request count (or MiB for the sink) divides the server's total calls.
# Prints "ROW SERVER calls/request (calls/MiB for the sink): the three most frequent calls".
#
# Usage: uring_strace.sh [DURATION_S (2)]   (needs strace and target/release/netpoll-bench)
set -eu
duration=${1:-2}
bin=${BIN:-target/release/netpoll-bench}
out=$(mktemp)
counts=$(mktemp)
trap 'rm -f "$out" "$counts"' EXIT

rows=$(grep -v '^#' "$(dirname "$0")/uring_rows.txt")

echo "$rows" | while read -r row protocol args; do
  for server in epoll uring; do
    flag=
    [ "$server" = uring ] && flag=--uring
    : >"$out"
    # shellcheck disable=SC2086 # $flag is empty or one word
    strace -c -f -S calls -o "$counts" "$bin" serve --listen tcp://127.0.0.1:0 --protocol "$protocol" $flag >"$out" &
    pid=$!
    i=0
    until grep -q '^listening ' "$out" || [ $i -ge 50 ]; do sleep 0.1; i=$((i + 1)); done
    addr=$(sed -n 's/^listening //p' "$out")
    # shellcheck disable=SC2086 # the row's arguments are words
    result=$("$bin" $args --target "tcp://$addr" --warmup 0 --duration "$duration")
    # The server is strace's child: ending it ends strace, which then writes the counts.
    pkill -TERM -P "$pid"
    wait "$pid" 2>/dev/null || true
    per=$(echo "$result" | sed -n 's/.*"requests":\([0-9]*\).*/\1/p')
    [ -n "$per" ] || per=$(echo "$result" | sed -n 's/.*"bytes":\([0-9]*\).*/\1/p' | awk '{ print $1 / 1048576 }')
    total=$(awk '$NF == "total" { print $4 }' "$counts")
    top=$(awk '$1 ~ /^[0-9.]+$/ && $NF != "total" { print $NF "=" $4 }' "$counts" | head -3 | tr '\n' ' ')
    echo "$row $server $(awk -v t="$total" -v p="$per" 'BEGIN { printf "%.3f", t / p }'): $top"
  done
done
