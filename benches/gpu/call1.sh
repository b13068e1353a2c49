#!/bin/bash
# One device call: our benchmark (main phases, a cuDNN-benchmark variant, the scaling sweep) and,
# when PROBE names a plain-PyTorch eager probe script, that probe on the same card. Everything
# lands in $OUT (at most 8 files).
[ -n "$PROBE" ] && PROBE=$(realpath "$PROBE")
cd "$(dirname "$0")"
TL=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')/lib
export LD_LIBRARY_PATH=$TL
LOG=$OUT/log.txt
{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv; python3 -c 'import torch;print(torch.__version__)'; ./unlearn --version; } >>$LOG 2>&1
timeout ${MAIN_S:-170} ./unlearn bench --device cuda --sweep-train none --sweep-ipc none --out main >>$LOG 2>&1; echo "main rc=$? ${SECONDS} s" >>$LOG
cp main/bench.json $OUT/bench.json 2>/dev/null; cp main/bench.txt $OUT/bench.txt 2>/dev/null
if [ -n "$CUDNN_VARIANT" ]; then
  timeout 60 ./unlearn bench --device cuda --cudnn-benchmark --phases blend,a_cf,finetune --sweep-train none --sweep-ipc none --out cudnn >>$LOG 2>&1; echo "cudnn rc=$?" >>$LOG
  cp cudnn/bench.json $OUT/bench_cudnn.json 2>/dev/null
fi
timeout ${SWEEP_S:-130} ./unlearn bench --device cuda --phases blend --no-warmup --out sweep >>$LOG 2>&1; echo "sweep rc=$? ${SECONDS} s" >>$LOG
cp sweep/bench.json $OUT/bench_sweep.json 2>/dev/null; cp sweep/sweep_train.png sweep/sweep_ipc.png $OUT/ 2>/dev/null
if [ -n "$PROBE" ]; then
  cd $OUT && timeout ${PROBE_S:-110} python3 "$PROBE" >>$LOG 2>&1; echo "probe rc=$?" >>$LOG
else
  echo "probe: skipped (no PROBE given)" >>$LOG
fi
tail -c 6000 $LOG
