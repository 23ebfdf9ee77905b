#!/usr/bin/env bash
# One session on a GPU machine (issue 18), within a time budget:
#   1. the CPU benchmarks pinned to two otherwise idle cores (quiet rows, in a copy of benchmarks/
#      so that their README rows do not race with the GPU rows);
#   2. the weight-path and D/G/R-precision benchmarks on CUDA;
#   3. `smoothscope run stability` on CUDA at the standard scale (to compare with a CPU run) and
#      then at the paper scale, until the budget runs out (a run is resumable).
# Usage: benchmarks/device_check.sh OUT_DIR [BUDGET_SECONDS]   (from the repository root)
# Datasets: $SMOOTHSCOPE_DATA (e.g. a carried .data/ with fashion-mnist/), else the digits.
# Needs python3 with torch (CUDA), numpy, scipy, scikit-learn, matplotlib, click and tqdm.
set -u
OUT=${1:?usage: benchmarks/device_check.sh OUT_DIR [BUDGET_SECONDS]}
BUDGET=${2:-500}
DEADLINE=$((SECONDS + BUDGET))
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
left() { echo $((DEADLINE - SECONDS)); }
pin() {  # pin CORES CMD...: run CMD on CORES (unpinned where taskset is missing)
  local cores=$1; shift
  if command -v taskset >/dev/null; then taskset -c "$cores" "$@"; else "$@"; fi
}
cores=$(nproc)
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

# 3. stability on CUDA: standard scale, then the paper scale with what is left
run_cores=4-$((cores - 1))
jobs=$((cores - 4 < 12 ? cores - 4 : 12))
for scale in standard paper; do
  t=$(($(left) - 25))
  if [ "$t" -lt 30 ]; then echo "no time left for $scale"; break; fi
  start=$SECONDS
  pin $run_cores timeout "$t" $PY -m smoothscope.cli run stability --scale "$scale" \
    --device cuda --jobs "$jobs" --out "runs/stability-$scale-cuda" --no-progress \
    > "$OUT/stability_$scale.log" 2>&1
  echo "stability $scale: exit $? after $((SECONDS - start)) s" | tee -a "$OUT/stability_$scale.log"
  find "runs/stability-$scale-cuda/cells" -name result.json 2>/dev/null | wc -l \
    | sed 's/^/finished cells: /' | tee -a "$OUT/stability_$scale.log"
done

wait "$cpu_pid"
cp benchmarks/README.md "$OUT/README_gpu.md"
cp /tmp/cpubench/README.md "$OUT/README_cpu.md"
tar czf "$OUT/results.tgz" benchmarks/results /tmp/cpubench/*.json \
  $(find runs -name '*.json' -o -name '*.png' 2>/dev/null) 2>/dev/null
ls -la "$OUT"
