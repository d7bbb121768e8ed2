#!/usr/bin/env bash
# How evenly two workers share the load: tests/bench/compare.sh --workers 2, RUNS runs
# (default 10) of each scenario, corral with accept shards (the default), corral with one
# shared socket (--no-reuse-port) and nginx, in alternating order. Prints, per run, the
# busier worker's share of the workers' CPU seconds, then per server the worst and the
# median share and in how many runs the busier worker did more than 60%.
#   tests/bench/two_workers.sh  (build-release first; DURATION=4, SCENARIOS="plaintext close")
# Needs what compare.sh needs for nginx and these scenarios (wrk, apache2-utils, nginx), and
# python3. corral is compare.sh's `corral` server and CORRAL_BIN the binary it runs:
# build-release/bin/corral, else build/bin/corral (a warning says so).
set -euo pipefail
cd "$(dirname "$0")/../.."
compare=tests/bench/compare.sh
command -v python3 >/dev/null || { echo "two_workers: install python3: apt-get install -y python3" >&2; exit 2; }
[ -x build-release/bin/corral ] || [ -n "${CORRAL_BIN:-}" ] ||
    echo "two_workers: no build-release/bin/corral: measuring build/bin/corral, not a release build" >&2
export DURATION=${DURATION:-4}
runs=${RUNS:-10}
results=$(mktemp)
trap 'rm -f "$results"' EXIT
shards=corral
# shellcheck disable=SC2016 # expanded by compare.sh's bash -c, which exports these
shared='shared=exec "$CORRAL_BIN" --bind 127.0.0.1:$PORT --workers $WORKERS --no-reuse-port'
for run in $(seq "$runs"); do
    for scenario in ${SCENARIOS:-plaintext close}; do
        if [ $((run % 2)) = 0 ]; then servers=(nginx "$shared" "$shards"); else servers=("$shards" "$shared" nginx); fi
        "$compare" --workers 2 --scenario "$scenario" "${servers[@]}" |
            grep '^RESULT' | tee -a "$results"
    done
done
python3 - "$results" <<'PY'
import re, statistics, sys
shares = {}
for line in open(sys.argv[1]):
    name = line.split()[1]
    scenario = re.search(r"scenario=(\S+)", line).group(1)
    cpu = [float(x) for x in re.search(r"worker_cpu_s=(\S+)", line).group(1).split(",")]
    if sum(cpu) > 0:
        shares.setdefault((scenario, name), []).append(max(cpu) / sum(cpu))
print("scenario   server   busier worker's share of CPU, per run")
for (scenario, name), values in sorted(shares.items()):
    print(f"{scenario:10} {name:8} " + " ".join(f"{v:.0%}" for v in values))
for (scenario, name), values in sorted(shares.items()):
    over = sum(v > 0.6 for v in values)
    print(f"SPREAD {scenario} {name}: worst {max(values):.0%}, median {statistics.median(values):.0%}, "
          f"above 60% in {over} of {len(values)} runs")
PY
