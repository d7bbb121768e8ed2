#!/usr/bin/env bash
# Handler styles side by side: corral's demo worker against FastAPI under uvicorn, one
# worker each, same machine, same run. Each scenario runs 3 times; the median is kept.
#   tests/bench/handlers.sh [OUT_DIR]     (needs wrk, python3-uvicorn, python3-fastapi)
# Writes OUT_DIR/handlers.tsv and, with gnuplot, OUT_DIR/handlers.png.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-build-release/bench}
mkdir -p "$out"
corral=build-release/bin/corral
[ -x "$corral" ] || { echo "build corral first: cmake --build build-release" >&2; exit 2; }
duration=${DURATION:-5}
ulimit -n 8192

scenarios=(
    "json 64 /json"
    "sleep10 1000 /sleep?ms=10"
    "blocking10 64 /blocking?ms=10"
    "cpu 64 /cpu?n=20000"
)

start_server() { # NAME PORT -> prints the pid
    case $1 in
    corral) "$corral" -w 1 -b "127.0.0.1:$2" --debug-endpoints --threads 40 \
                --worker-connections 2000 --backlog 4096 >/dev/null 2>&1 & ;;
    fastapi) /usr/bin/python3 -m uvicorn --app-dir tests/bench --port "$2" --log-level warning \
                --backlog 4096 fastapi_handlers:app >/dev/null 2>&1 & ;;
    esac
    echo $!
}

wait_ready() {
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$1/json" >/dev/null && return 0; sleep 0.1; done
    return 1
}

median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

printf "scenario\tconnections\tcorral\tfastapi\n" > "$out/handlers.tsv"
for scenario in "${scenarios[@]}"; do
    read -r name connections path <<<"$scenario"
    row="$name\t$connections"
    for server in corral fastapi; do
        port=$((19000 + RANDOM % 1000))
        pid=$(start_server "$server" "$port")
        wait_ready "$port"
        results=()
        for _ in 1 2 3; do
            rps=$(wrk -t2 -c"$connections" -d"${duration}s" "http://127.0.0.1:$port$path" |
                  awk '/Requests\/sec/ {print $2}')
            results+=("$rps")
        done
        kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
        row="$row\t$(printf '%s\n' "${results[@]}" | median)"
    done
    printf "%b\n" "$row" | tee -a "$out/handlers.tsv"
done

if command -v gnuplot >/dev/null; then
    gnuplot <<GP
set terminal png size 800,450
set output "$out/handlers.png"
set title "Requests/s, one worker: corral vs FastAPI (uvicorn), median of 3"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8
set logscale y
set ylabel "requests/s (log)"
set key top right autotitle columnhead
plot "$out/handlers.tsv" using 3:xtic(1) title "corral", "" using 4 title "FastAPI"
GP
    echo "chart: $out/handlers.png"
fi
