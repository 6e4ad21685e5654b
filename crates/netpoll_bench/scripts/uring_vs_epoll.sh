#!/bin/sh
# The measurement of issue #16's io_uring spike: the epoll ceiling (`netpoll-bench serve`)
# against its io_uring variant (`serve --uring`) on the #16 rows, alternated ROUNDS times
# (epoll first in even rounds, io_uring first in odd ones), a fresh server per run as `npm run bench` starts them.
# Prints one JSON line per run, prefixed with "ROW SERVER"; `node medians.mjs < OUTPUT` sums
# them up.
#
# Usage: uring_vs_epoll.sh [ROUNDS (5)] [WARMUP_S (1)] [DURATION_S (2)]
# Needs target/release/netpoll-bench (cargo build --release -p netpoll_bench).
set -eu
rounds=${1:-5}
warmup=${2:-1}
duration=${3:-2}
bin=${BIN:-target/release/netpoll-bench}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

rows=$(grep -v '^#' "$(dirname "$0")/uring_rows.txt")

run() { # ROW SERVER PROTOCOL LOADGEN-ARGS...
  row=$1 server=$2 protocol=$3
  shift 3
  flag=
  [ "$server" = uring ] && flag=--uring
  : >"$out"
  # shellcheck disable=SC2086 # $flag is empty or one word
  "$bin" serve --listen tcp://127.0.0.1:0 --protocol "$protocol" $flag >"$out" &
  pid=$!
  i=0
  until grep -q '^listening ' "$out" || [ $i -ge 50 ]; do sleep 0.1; i=$((i + 1)); done
  addr=$(sed -n 's/^listening //p' "$out")
  printf '%s %s ' "$row" "$server"
  "$bin" "$@" --target "tcp://$addr" --server-pid "$pid" --warmup "$warmup" --duration "$duration" || echo '{}'
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

r=0
while [ $r -lt "$rounds" ]; do
  echo "$rows" | while read -r row protocol args; do
    for server in $([ $((r % 2)) = 0 ] && echo epoll uring || echo uring epoll); do
      # shellcheck disable=SC2086 # the row's arguments are words
      run "$row" "$server" "$protocol" $args
    done
  done
  r=$((r + 1))
done
