#!/usr/bin/env bash
# Paper-scale wall time of every experiment (issue 29), within a time budget, resumable.
#
# With CUDA (a GPU machine lent for a session; issue 18's checks first):
#   1. the CPU benchmarks pinned to two otherwise idle cores (quiet rows, in a copy of
#      benchmarks/ so that their README rows do not race with the GPU rows);
#   2. the weight-path and D/G/R-precision benchmarks on CUDA;
#   3. every experiment at the quick scale with --device cuda (what the faked device of
#      tests/experiments/test_device.py cannot see: a host tensor beside a device one);
#   4. every experiment at the paper scale with --device cuda, the budget left shared among
#      them; each writes a "measured on CUDA" row (its wall time, or the cells it finished) to
#      benchmarks/README.md. A rerun with the same runs/ resumes every run where it stopped.
# Without CUDA: benchmarks/estimate_paper_time.py times each experiment's cells at small counts
#   on the CPU and writes rows labelled **ESTIMATE** (resumable through OUT/estimate.json).
#   Run it under the heavy lock on a shared machine:
#     flock /work/tools/heavy.lock benchmarks/device_check.sh OUT 480
#
# Usage: benchmarks/device_check.sh OUT_DIR [BUDGET_SECONDS]   (from the repository root)
# Datasets: $SMOOTHSCOPE_DATA (e.g. a carried .data/ with fashion-mnist/), else the digits.
# $SD_RUN: a finished scale-detection run whose interpolation epochs the estimate uses.
# Needs python3 with torch, numpy, scipy, scikit-learn, matplotlib, click and tqdm.
set -u
OUT=${1:?usage: benchmarks/device_check.sh OUT_DIR [BUDGET_SECONDS]}
BUDGET=${2:-500}
DEADLINE=$((SECONDS + BUDGET))
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
EXPERIMENTS="stability scale-detection blueshift nonsmoothness propagation regularity forensic"
left() { echo $((DEADLINE - SECONDS)); }
pin() {  # pin CORES CMD...: run CMD on CORES (unpinned where taskset is missing)
  local cores=$1; shift
  if command -v taskset >/dev/null; then taskset -c "$cores" "$@"; else "$@"; fi
}
cores=$(nproc)

if ! $PY -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "no CUDA: estimating the paper-scale times from timed steps on the CPU"
  ref=()
  if [ -n "${SD_RUN:-}" ]; then ref=(--interpolation-from "$SD_RUN"); fi
  (cd benchmarks && $PY estimate_paper_time.py --budget $(($(left) - 20)) \
    --cache "$(cd "$OUT" && pwd)/estimate.json" ${ref[@]+"${ref[@]}"}) 2>&1 | tee "$OUT/estimate.log"
  exit "${PIPESTATUS[0]}"
fi

{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  $PY -c "import torch, numpy, scipy, sklearn, smoothscope; print('torch', torch.__version__,
'cuda', torch.version.cuda, torch.cuda.get_device_name(0), 'numpy', numpy.__version__,
'scipy', scipy.__version__, 'sklearn', sklearn.__version__)"
  lscpu | grep -i "model name"
  echo "cores $cores, budget ${BUDGET}s, data ${SMOOTHSCOPE_DATA:-(none: digits)}"
} > "$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

# 1. CPU benchmarks on cores 0-1, in the background
rm -rf /tmp/cpubench && cp -r benchmarks /tmp/cpubench
(
  cd /tmp/cpubench || exit
  pin 0,1 timeout $(($(left) - 30)) $PY bench_stability_precision.py --json precision.json
  pin 0,1 timeout $(($(left) - 30)) $PY bench_blueshift.py --json blueshift.json
) > "$OUT/cpu_bench.log" 2>&1 &
cpu_pid=$!

# 2. GPU benchmarks on cores 2-3
gpu_cores=2,3
pin $gpu_cores timeout 120 $PY benchmarks/bench_blueshift.py --device cuda \
  --json benchmarks/results/gpu_blueshift.json 2>&1 | tee "$OUT/gpu_bench.log"
pin $gpu_cores timeout 120 $PY benchmarks/bench_stability_precision.py --device cuda \
  --json benchmarks/results/gpu_precision.json 2>&1 | tee -a "$OUT/gpu_bench.log"

# 3. and 4. every experiment on CUDA: quick (a smoke test of the device paths), then paper
run_cores=4-$((cores - 1))
jobs=$((cores - 4 < 12 ? cores - 4 : 12))
for exp in $EXPERIMENTS; do
  t=$(($(left) - 60))
  if [ "$t" -lt 20 ]; then echo "no time left for $exp quick"; break; fi
  start=$SECONDS
  pin $run_cores timeout $((t < 90 ? t : 90)) $PY -m smoothscope.cli run "$exp" --scale quick \
    --device cuda --jobs "$jobs" --out "runs/$exp-quick-cuda" --no-progress \
    > "$OUT/${exp}_quick.log" 2>&1
  echo "$exp quick: exit $? after $((SECONDS - start)) s" | tee -a "$OUT/${exp}_quick.log"
done
n=$(echo $EXPERIMENTS | wc -w)
for exp in $EXPERIMENTS; do
  t=$((($(left) - 25) / n))
  n=$((n - 1))
  if [ "$t" -lt 20 ]; then echo "no time left for $exp paper"; continue; fi
  start=$SECONDS
  pin $run_cores timeout "$t" $PY -m smoothscope.cli run "$exp" --scale paper \
    --device cuda --jobs "$jobs" --out "runs/$exp-paper-cuda" --no-progress \
    > "$OUT/${exp}_paper.log" 2>&1
  rc=$?
  echo "$exp paper: exit $rc after $((SECONDS - start)) s" | tee -a "$OUT/${exp}_paper.log"
  (cd benchmarks && $PY estimate_paper_time.py --measured "$exp" "../runs/$exp-paper-cuda" \
    $((SECONDS - start)) "$rc") 2>&1 | tee -a "$OUT/${exp}_paper.log"
done

wait "$cpu_pid"
cp benchmarks/README.md "$OUT/README_gpu.md"
cp /tmp/cpubench/README.md "$OUT/README_cpu.md"
tar czf "$OUT/results.tgz" benchmarks/results /tmp/cpubench/*.json \
  $(find runs -name '*.json' -o -name '*.png' 2>/dev/null) 2>/dev/null
ls -la "$OUT"
