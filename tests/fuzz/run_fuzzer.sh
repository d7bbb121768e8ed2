#!/usr/bin/env bash
# Builds the libFuzzer target with clang (ASan + UBSan) and runs it for a bounded time,
# seeded with the repository's request seeds (tests/fuzz/seeds), and with the Gunicorn
# request corpus too when ../shared has it. CI runs this.
#   tests/fuzz/run_fuzzer.sh [SECONDS]      (default 60; a longer local run: 3600)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
build=build-fuzz

cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCORRAL_FUZZ=ON -DCORRAL_SANITIZE=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target http-connection-fuzzer

corpus="$build/corpus"
mkdir -p "$corpus"
seeds=(tests/fuzz/seeds/*.http)
for seed in "${seeds[@]}"; do cp "$seed" "$corpus/seed-$(basename "$seed")"; done
echo "run_fuzzer: ${#seeds[@]} seeds from tests/fuzz/seeds"
python3 - "$corpus" <<'PY'
import os, sys
sys.path.insert(0, "tests/process")
import conformance_corpus
try:
    source = conformance_corpus.corpus_dir()
except Exception as skip:
    if os.environ.get("CI") == "true":  # CI has ../shared: its absence is a failure there
        sys.exit(f"run_fuzzer: no Gunicorn corpus under CI=true: {skip}")
    print(f"run_fuzzer: no Gunicorn corpus ({skip}); the repository's seeds only")
    sys.exit(0)
count = 0
for part in ("valid", "invalid"):
    for name in sorted(os.listdir(os.path.join(source, part))):
        with open(os.path.join(source, part, name), "rb") as fixture:
            wire = conformance_corpus.decode_fixture(fixture.read())
        with open(os.path.join(sys.argv[1], f"{part}-{name}"), "wb") as seed:
            seed.write(wire)
        count += 1
print(f"run_fuzzer: {count} seeds from {source}")
PY
# -rss_limit_mb: the worker's buffers are bounded; a growing input must not grow memory.
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$build/bin/http-connection-fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 \
    -artifact_prefix="$build/" \
    -timeout=10 -print_final_stats=1 "$corpus" 2>&1 | tail -25
