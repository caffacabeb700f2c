#!/usr/bin/env bash
# CPU benchmark: the C harness and the PyTorch peer on the same shapes with
# the same thread count, then one table and, as the last line, one JSON
# object. Usage: bench/cpu/run.sh [BUILD_DIR] [--quick]
# Environment: SPARSA_BENCH_THREADS (default 2), SPARSA_BENCH_REPS (3).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:-build}"
quick=""
[[ "${2:-}" == "--quick" ]] && quick="--quick"
threads="${SPARSA_BENCH_THREADS:-2}"
reps="${SPARSA_BENCH_REPS:-3}"

harness="$build/bench/cpu/sparsa_bench_cpu"
tool="$build/tools/sparsa"
for exe in "$harness" "$tool"; do
  if [[ ! -x "$exe" ]]; then
    echo "bench-cpu: $exe is missing; build first (make build)" >&2
    exit 1
  fi
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "bench-cpu: sparsa CPU engine, $threads threads" >&2
"$harness" --threads "$threads" --reps "$reps" --export-dir "$work" $quick > "$work/sparsa.json"

# The peer is optional: without torch the table says n/a for its columns.
: > "$work/torch.json"
if ! python3 -c "import torch" 2>/dev/null; then
  echo "bench-cpu: installing the peer's Python packages (torch)" >&2
  python3 -m pip install -q --disable-pip-version-check -r "$here/peer-requirements.txt" >&2 ||
    echo "bench-cpu: torch could not be installed; peer columns will be n/a" >&2
fi
if python3 -c "import torch" 2>/dev/null; then
  echo "bench-cpu: PyTorch SDPA peer, $threads threads" >&2
  OMP_NUM_THREADS="$threads" python3 "$here/peer_torch.py" --threads "$threads" --reps "$reps" \
    --shapes "$work/sparsa.json" --mask-dir "$work" > "$work/torch.json" ||
    echo "bench-cpu: the peer failed; its columns will be n/a" >&2
fi

# Estimation cost against the attention it feeds (bench/estimate), where built.
: > "$work/estimate.jsonl"
estimate="$build/bench/estimate/bench_estimate"
if [[ -x "$estimate" ]]; then
  echo "bench-cpu: estimation cost against attention, $threads threads" >&2
  "$estimate" --method all --threads "$threads" --reps "$reps" ${quick:+--n 4096} \
    > "$work/estimate.jsonl" || echo "bench-cpu: the estimation benchmark failed" >&2
  # Pooled means of every 8th row (key estimate_vs_attention_pooled_s8).
  "$estimate" --method pooled --stride 8 --threads "$threads" --reps "$reps" ${quick:+--n 4096} \
    >> "$work/estimate.jsonl" || echo "bench-cpu: the strided pooled estimate failed" >&2
fi

python3 "$here/summarize.py" --sparsa "$work/sparsa.json" --torch "$work/torch.json" \
  --estimate "$work/estimate.jsonl" \
  --info "$("$tool" info --json)" --date "$(date -u +%Y-%m-%d)" \
  --command "make bench-cpu${quick:+ (quick)}"
