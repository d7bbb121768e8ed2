#!/usr/bin/env bash
# corral beside nginx with tests/bench/compare.sh, one worker pinned, each scenario
# run 3 times; prints the median req/s, p99 and kreq/cpu of each server and the ratios.
#   tests/bench/versus_nginx.sh [OUT_DIR]  (build-release first; DURATION=6 by default)
# Writes OUT_DIR/versus_nginx.tsv (default build-release/bench) and, with gnuplot, a chart
# of the requests per CPU-second: OUT_DIR/versus_nginx.png.
# Needs what compare.sh needs for nginx and all scenarios (wrk, apache2-utils, nginx,
# util-linux), and python3; gnuplot for the chart. corral is compare.sh's `corral` server:
# build-release/bin/corral, else build/bin/corral (a warning says so), or CORRAL_BIN.
set -euo pipefail
cd "$(dirname "$0")/../.."
compare=tests/bench/compare.sh
command -v python3 >/dev/null || { echo "versus_nginx: install python3: apt-get install -y python3" >&2; exit 2; }
[ -x build-release/bin/corral ] || [ -n "${CORRAL_BIN:-}" ] ||
    echo "versus_nginx: no build-release/bin/corral: measuring build/bin/corral, not a release build" >&2
export DURATION=${DURATION:-6}
out=${1:-build-release/bench}
mkdir -p "$out"
results=$(mktemp)
trap 'rm -f "$results"' EXIT
corral=corral
for run in 1 2 3; do
    for scenario in plaintext pipelined close; do
        # The order alternates: the machine's speed drifts within a run, and whichever
        # server went second would always meet the drift.
        if [ "$run" = 2 ]; then servers=("$corral" nginx); else servers=(nginx "$corral"); fi
        "$compare" --workers 1 --scenario "$scenario" "${servers[@]}" |
            grep '^RESULT' | tee -a "$results"
    done
done
python3 - "$results" "$out/versus_nginx.tsv" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    fields = line.split()
    name, rps, p99 = fields[1], float(fields[2]), fields[3]
    scenario = re.search(r"scenario=(\S+)", line).group(1)
    kreq = float(re.search(r"kreq_per_cpu_s=(\S+)", line).group(1))
    rows.setdefault((scenario, name), []).append((rps, p99, kreq))
print("scenario   server   req/s(median)  p99(median)  kreq/cpu(median)")
for (scenario, name), runs in sorted(rows.items()):
    rps = statistics.median(r[0] for r in runs)
    kreq = statistics.median(r[2] for r in runs)
    p99s = sorted(r[1] for r in runs)
    print(f"{scenario:10} {name:8} {rps:13.0f}  {p99s[len(p99s)//2]:>11}  {kreq:16.1f}")
for scenario in ("plaintext", "pipelined", "close"):
    c = statistics.median(r[0] for r in rows[(scenario, "corral")])
    n = statistics.median(r[0] for r in rows[(scenario, "nginx")])
    ck = statistics.median(r[2] for r in rows[(scenario, "corral")])
    nk = statistics.median(r[2] for r in rows[(scenario, "nginx")])
    print(f"RATIO {scenario}: req/s {c / n:.2f}x nginx, kreq/cpu {ck / nk:.2f}x nginx")
with open(sys.argv[2], "w") as tsv:
    tsv.write("scenario\tnginx_kreq_per_cpu_s\tcorral_kreq_per_cpu_s\n")
    for scenario in ("plaintext", "pipelined", "close"):
        nk = statistics.median(r[2] for r in rows[(scenario, "nginx")])
        ck = statistics.median(r[2] for r in rows[(scenario, "corral")])
        tsv.write(f"{scenario}\t{nk:.1f}\t{ck:.1f}\n")
PY
if command -v gnuplot >/dev/null; then
    gnuplot <<GP
set terminal png size 800,450
set output "$out/versus_nginx.png"
set title "Requests per CPU-second (thousands), one worker pinned, median of 3"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8
set logscale y
set ylabel "kreq per CPU-second (log)"
set key top right autotitle columnhead
plot "$out/versus_nginx.tsv" using 2:xtic(1) title "nginx", "" using 3 title "corral"
GP
fi
