#!/usr/bin/env bash
# restart_latency.sh: how soon a pre-fork server replaces a worker killed with SIGKILL:
# until a replacement process exists, and until it answers requests.
#
#   tests/bench/restart_latency.sh [--runs 5] [--workers 1] [--timeout 10] [--gap 2] SERVER
#
# SERVER as in compare.sh: nginx, floor, corral, or NAME='COMMAND' (the process started is
# the master; its children are the workers). No load runs meanwhile.
# Each run kills the oldest worker with kill -9 and measures, from the kill:
#   forked_ms   until the master has a child that was not there before (a background
#               loop reads /proc/MASTER/task/*/children every 0.5 ms)
#   serving_ms  until that new worker answers. How the script knows who answered:
#               - If GET /info answers with JSON holding the worker's "pid" (corral's demo
#                 worker does), the script sends GET /info on a new connection, again and
#                 again, until a pid that was not a worker before the kill answers. With
#                 2+ workers the survivors answer some of these; corral's master routes new
#                 connections over the accept shards of its ready workers in turn, so once
#                 the replacement is ready and routed, the next probe or the one after
#                 lands on it: serving_ms is late by about one probe (printed as probe_ms).
#                 "Ready" in `corral status` (READY=1 received) comes just before that
#                 routing; an answer from the new pid is what clients see, so that is
#                 what is timed.
#               - Otherwise, with --workers 1, the first 2xx to GET / after the kill: only
#                 a new worker can give it (the master keeps the listening socket, so the
#                 probe's connection waits in its queue and is not refused).
#               - Otherwise (2+ workers, no /info) serving_ms is not measured (n/a).
#   boot_ms     for corral, the "Worker PID ready in N ms" of its log, when there.
# Between runs it waits until the worker count and GET / are back, and --gap s (2) more:
# corral, like Gunicorn's arbiter, backs off (0.1 s, doubling) when a worker dies within
# 1 s of its start, which a kill of a younger worker would measure instead.
# Output: a row per run, the medians, and
#   RESULT restart NAME forked_ms serving_ms failures
# Environment: PORT (18080), CORRAL_BIN.
# Needs: nothing beyond bash and util-linux (setsid); nginx or gcc for those servers.
# Exit status: 0; 1 when a run found no replacement or no answer within --timeout s, or
#   the server did not start; 2 for a usage error or a missing tool.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
cd "$REPO_ROOT"

runs=5 timeout=10 gap=2 spec=""
while [ $# -gt 0 ]; do
    case $1 in
    --runs) [ $# -ge 2 ] || usage_error "--runs needs a number"; runs=$2; shift 2 ;;
    --workers) [ $# -ge 2 ] || usage_error "--workers needs a number"; WORKERS=$2; shift 2 ;;
    --timeout) [ $# -ge 2 ] || usage_error "--timeout needs seconds"; timeout=$2; shift 2 ;;
    --gap) [ $# -ge 2 ] || usage_error "--gap needs seconds"; gap=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    -*) usage_error "unknown option $1" ;;
    *) [ -z "$spec" ] || usage_error "one server at a time"; spec=$1; shift ;;
    esac
done
[ -n "$spec" ] || usage_error "name a server"
[[ $WORKERS =~ ^[1-9][0-9]*$ && $runs =~ ^[1-9][0-9]*$ && $timeout =~ ^[1-9][0-9]*$ ]] ||
    usage_error "--workers, --runs and --timeout are positive whole numbers"
export WORKERS
choose_server "$spec"

# ms_of MICROSECONDS: prints them as milliseconds with one decimal.
ms_of() { printf '%d.%d' $(($1 / 1000)) $((($1 % 1000) / 100)); }

# watch_fork OLD OUT DEADLINE_US: run in the background; writes "PID US" to OUT when the
# master has a child not in OLD (" pid pid ... "), or nothing by DEADLINE_US.
watch_fork() {
    local old=$1 out=$2 deadline=$3 f p list
    while :; do
        for f in /proc/"$MASTER"/task/*/children; do
            list=()
            { read -r -a list <"$f"; } 2>/dev/null || true
            for p in "${list[@]}"; do
                [[ $old == *" $p "* ]] && continue
                clock_us
                echo "$p $NOW_US" >"$out"
                return 0
            done
        done
        clock_us
        ((NOW_US < deadline)) || return 0
        nap 0.0005
    done
}

# answer_pid: GET /info on a new connection; sets ANSWER_PID to the "pid" of its JSON.
answer_pid() {
    local pattern='"pid": *([0-9]+)'
    ANSWER_PID=""
    http_get /info "${1:-2}" || return 1
    [[ $HTTP_BODY =~ $pattern ]] || return 1
    ANSWER_PID=${BASH_REMATCH[1]}
}

log=$SCRATCH/server.log
start_server "$log"
if ! wait_answer 30; then
    say "FAILED: $SRV_NAME did not answer on 127.0.0.1:$PORT; the end of its output:"
    tail -n 20 "$log" >&2 || true
    exit 1
fi
nap 1
children "$MASTER"
count=${#KIDS[@]}
((count > 0)) || { say "FAILED: the master $MASTER has no child processes"; exit 1; }

mode=none
if answer_pid && [[ " ${KIDS[*]} " == *" $ANSWER_PID "* ]]; then
    mode=info
elif [ "$count" = 1 ]; then
    mode=root
fi
probe_us=()
for _ in 1 2 3 4 5; do
    clock_us
    t=$NOW_US
    if [ "$mode" = info ]; then answer_pid || true; else http_get / || true; fi
    clock_us
    probe_us+=($((NOW_US - t)))
done
probe_ms=$(ms_of "$(printf '%s\n' "${probe_us[@]}" | median)")
case $mode in
info) how="serving = the first answer to GET /info from a new pid" ;;
root) how="serving = the first 2xx to GET / (one worker: only a new one can answer)" ;;
none) how="serving not measured: $count workers and no GET /info naming the answering one" ;;
esac
echo "# $SRV_NAME: master $MASTER, $count worker(s), started in $STARTUP_MS ms; $how; probe_ms=$probe_ms"
row='%-4s %-8s %-8s %10s %11s %8s\n'
# shellcheck disable=SC2059 # the format is $row
printf "$row" run killed new forked_ms serving_ms boot_ms

forked_all=() serving_all=() failures=0
for ((run = 1; run <= runs; run++)); do
    children "$MASTER"
    old=" ${KIDS[*]} "
    victim="" oldest=""
    for p in "${KIDS[@]}"; do
        proc_fields "$p" || continue
        if [ -z "$oldest" ] || ((STAT[19] < oldest)); then oldest=${STAT[19]} victim=$p; fi
    done
    [ -n "$victim" ] || { say "no worker to kill"; failures=$((failures + 1)); break; }
    rm -f "$SCRATCH/forked"
    clock_us
    t0=$NOW_US
    deadline=$((t0 + timeout * 1000000))
    watch_fork "$old" "$SCRATCH/forked" "$deadline" &
    watcher=$!
    kill -KILL "$victim"
    served_us=""
    case $mode in
    info)
        while clock_us && ((NOW_US < deadline)); do
            if answer_pid "$timeout"; then
                if [[ $old != *" $ANSWER_PID "* ]]; then
                    clock_us
                    served_us=$((NOW_US - t0))
                    break
                fi
            else
                nap 0.001
            fi
        done ;;
    root)
        while clock_us && ((NOW_US < deadline)); do
            if http_get / "$timeout"; then
                clock_us
                served_us=$((NOW_US - t0))
                break
            fi
            nap 0.001
        done ;;
    esac
    wait "$watcher" || true
    new="" forked_us=""
    if [ -s "$SCRATCH/forked" ]; then
        read -r new at <"$SCRATCH/forked"
        forked_us=$((at - t0))
    fi
    boot=""
    if [ -n "$new" ]; then
        boot=$(sed -n "s/.*Worker $new ready in \([0-9]*\) ms.*/\1/p" "$log" | head -n 1)
    fi
    forked_ms=n/a serving_ms=n/a
    [ -z "$forked_us" ] || forked_ms=$(ms_of "$forked_us")
    [ -z "$served_us" ] || serving_ms=$(ms_of "$served_us")
    # shellcheck disable=SC2059
    printf "$row" "$run" "$victim" "${new:--}" "$forked_ms" "$serving_ms" "${boot:--}"
    if [ -z "$forked_us" ] || { [ "$mode" != none ] && [ -z "$served_us" ]; }; then
        failures=$((failures + 1))
        running "$MASTER" || { say "the master $MASTER is gone"; break; }
    else
        forked_all+=("$forked_ms")
        [ -z "$served_us" ] || serving_all+=("$serving_ms")
    fi
    # back to full strength before the next kill
    for ((i = 0; i < 500; i++)); do
        children "$MASTER"
        if [ "${#KIDS[@]}" -ge "$count" ] && http_get / 1; then break; fi
        nap 0.02
    done
    nap "$gap"
done
forked_med=$(printf '%s\n' "${forked_all[@]}" | grep . | median || true)
serving_med=$(printf '%s\n' "${serving_all[@]}" | grep . | median || true)
[ "$mode" != none ] || serving_med=n/a
echo "median of $((runs - failures)) run(s): forked_ms=${forked_med:-nan} serving_ms=${serving_med:-nan}; failures $failures of $runs"
echo "RESULT restart $SRV_NAME ${forked_med:-nan} ${serving_med:-nan} $failures"
[ "$failures" = 0 ]
