#!/usr/bin/env bash
# Everything issue #26 measures on a GPU, for a lent GPU machine (the `device` tool): two runs, each well under the
# 600 s one command may take, with the `.gpu` bundle of ../shared/gpu carried (bash ../shared/gpu/prepare.sh makes it):
#   bash benchmarks/gpu_check.sh tests      the -m gpu tests, then benchmarks/gpu.py (IMDB epoch, batch-1 step,
#                                           images per 1,000 against the plain captured loop)
#   bash benchmarks/gpu_check.sh pipeline   the whole dvc repro on CUDA against the committed CPU reference run,
#                                           its stage times
# Logs and results go to $OUT, which the device tool brings back.
set -u
part=${1:?tests or pipeline}
source .gpu/setup.sh > $OUT/setup.log 2>&1 || { cat $OUT/setup.log; exit 1; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/gpu.txt
[ -d .git ] || { git init -q && git add -A && git commit -qm reference; } >/dev/null 2>&1
# the bundle's copies of the data, and the subset's own md5s
python3 - <<'PY'
import json, os, yaml
p = yaml.safe_load(open("params.yaml"))
p["data"]["imdb"]["sources"] = [{"at": os.environ["IMDB_ARCHIVE"], "sha256": os.environ["IMDB_SHA256"]}]
p["data"]["fashion_mnist"]["sources"] = [os.environ["FASHION_MNIST"]]
p["data"]["fashion_mnist"]["raw_md5"] = json.load(open(os.path.join(os.environ["FASHION_MNIST"], "md5.json")))
yaml.safe_dump(p, open("params.yaml", "w"), sort_keys=False)
PY
git add -A >/dev/null 2>&1; git commit -qm gpu >/dev/null 2>&1
if [ "$part" = tests ]; then
  timeout 300 python3 -m pytest -m gpu -q -p no:cacheprovider > $OUT/pytest_gpu.log 2>&1
  timeout 240 python3 benchmarks/gpu.py --archive "$IMDB_ARCHIVE" --fashion-mnist "$FASHION_MNIST" --out $OUT/gpu.json \
    > $OUT/gpu_bench.log 2>&1; echo "gpu.py exit $?" >> $OUT/gpu_bench.log
  tail -5 $OUT/pytest_gpu.log; tail -20 $OUT/gpu_bench.log
else
  SECONDS=0
  timeout 480 /usr/bin/time -v dvc repro > $OUT/repro.log 2>&1; echo "repro exit $? after $SECONDS s" >> $OUT/repro.log
  dvc metrics diff HEAD~1 --md > $OUT/metrics_diff.md 2>&1
  git diff HEAD~1 --stat -- metrics reports > $OUT/results_changed.txt 2>&1
  cp reports/REPORT.md $OUT/REPORT_gpu.md 2>/dev/null
  python3 benchmarks/stage_times.py > $OUT/stage_times.md 2>&1
  tar czf $OUT/timings.tgz timings 2>/dev/null
  grep -E "exit|Elapsed|rror" $OUT/repro.log | tail -20; cat $OUT/metrics_diff.md $OUT/stage_times.md
fi
