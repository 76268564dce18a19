#!/usr/bin/env bash
# Queues of benchmark commands that run on across device calls (one call may last 10 minutes; a
# lease holds the machine while calls follow each other within 30 s).
#
#   bench/device_queue.sh start GPU FILE   run FILE's lines (shell commands, '#' comments skipped) one
#                                          after another on CUDA device GPU, in the background in a
#                                          session of their own (setsid), so they outlive this call
#                                          (QUEUE=gpuNb names a second queue on the same GPU)
#   bench/device_queue.sh wait SECONDS     wait until every started queue is done (or SECONDS pass),
#                                          then copy $KEEP/out to $OUT and print each queue's progress
#   bench/device_queue.sh await PATH SECONDS   in a queue line: wait until PATH exists (a later call
#                                          touches it once its wheels are installed); status 1 if not
#
# Commands run in the repository root with BENCH_OUT=$KEEP/out (KEEP: /tmp/keep unless set), so
# benchmark rows and logs collect there; each command's exit status and times go to the queue's
# log ($KEEP/out/gpuN.log, or $QUEUE.log), and a failed command does not stop the queue. Example (two GPUs):
#   bench/device_queue.sh start 0 q0.txt; bench/device_queue.sh start 1 q1.txt; bench/device_queue.sh wait 540
#   # next call, at once:        bench/device_queue.sh wait 560
#   # a line that needs wheels carried later: bench/device_queue.sh await /tmp/keep/whl2.ready 600 && python3 ...
set -uo pipefail
KEEP=${KEEP:-/tmp/keep}
case "${1:-}" in
  start)
    gpu=$2; file=$(realpath "$3"); root=$(pwd); name=${QUEUE:-gpu$gpu}
    case "$name" in gpu*) ;; *) echo "QUEUE must start with gpu (wait looks for gpu*.log): $name" >&2; exit 2 ;; esac
    mkdir -p "$KEEP/out"; rm -f "$KEEP/out/$name.done"
    setsid nohup bash -c '
      gpu=$1; file=$2; out=$3; cd "$4"
      export CUDA_VISIBLE_DEVICES=$gpu BENCH_OUT=$out
      while IFS= read -r cmd || [ -n "$cmd" ]; do
        case "$cmd" in ""|"#"*) continue ;; esac
        echo "=== $(date +%T) start: $cmd"
        bash -c "$cmd" < /dev/null
        rc=$?
        echo "=== $(date +%T) rc $rc: $cmd"
      done < "$file"
      touch "$out/$5.done"' _ "$gpu" "$file" "$KEEP/out" "$root" "$name" \
      > "$KEEP/out/$name.log" 2>&1 < /dev/null &
    echo "queue $name started: $(grep -cv '^\s*\(#\|$\)' "$file") commands from $3"
    ;;
  wait)
    end=$((SECONDS + ${2:-540}))
    while [ $SECONDS -lt $end ]; do
      pending=0
      for log in "$KEEP"/out/gpu*.log; do
        [ -e "$log" ] || continue
        [ -f "${log%.log}.done" ] || pending=1
      done
      [ $pending = 0 ] && break
      sleep 2
    done
    [ -n "${OUT:-}" ] && cp -r "$KEEP/out/." "$OUT/" 2>/dev/null
    for log in "$KEEP"/out/gpu*.log; do
      [ -e "$log" ] || continue
      state=running; [ -f "${log%.log}.done" ] && state=done
      echo "--- $(basename "$log" .log): $state"
      grep -a '^=== ' "$log"
    done
    ;;
  await)
    for _ in $(seq "${3:-600}"); do [ -e "$2" ] && exit 0; sleep 1; done
    echo "gave up waiting for $2"; exit 1
    ;;
  *) sed -n '2,19p' "$0"; exit 2 ;;
esac
