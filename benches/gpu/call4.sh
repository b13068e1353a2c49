#!/bin/bash
# Device call 4: the final binary on the GPU: run records' determinism note (default and
# --deterministic), and Blend + A-CF on the full workload.
cd "$(dirname "$0")"
export LD_LIBRARY_PATH=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')/lib
LOG=$OUT/log.txt
cat > det.rhai <<'R'
let d = synthetic(#{ train: 2000, test: 500 });
let m = convnet3(d, #{ width: 32 });
train(m, d.train, #{ epochs: 1, progress: false });
save_result("det", #{ accuracy: accuracy(m, d.test), device: device() });
R
for flag in "" "--deterministic"; do
  timeout 60 ./unlearn run det.rhai --device cuda --out det$flag $flag >>$LOG 2>&1; echo "det $flag rc=$?" >>$LOG
  python3 -c "import json,sys;d=json.load(open(sys.argv[1]));print(sys.argv[1], d['run']['determinism'], d['result'])" det$flag/det.json >>$LOG 2>&1
done
timeout 100 ./unlearn bench --device cuda --phases blend,a_cf --sweep-train none --sweep-ipc none --out final >>$LOG 2>&1; echo "bench rc=$?" >>$LOG
cp final/bench.json $OUT/bench_final.json 2>/dev/null
tail -n 30 $LOG
