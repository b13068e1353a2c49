#!/bin/bash
# Device call 3: a kernel profile of the A-CF step (torch.profiler, same kernels), and A-CF with
# cuDNN's benchmark mode.
cd "$(dirname "$0")"
TL=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')/lib
LOG=$OUT/log.txt
timeout 70 python3 profile_acf.py >>$LOG 2>&1; echo "profile rc=$? ${SECONDS} s" >>$LOG
LD_LIBRARY_PATH=$TL timeout 60 ./unlearn bench --device cuda --cudnn-benchmark --phases blend,a_cf,finetune --sweep-train none --sweep-ipc none --out cudnn >>$LOG 2>&1; echo "cudnn rc=$? ${SECONDS} s" >>$LOG
cp cudnn/bench.json $OUT/bench_cudnn.json 2>/dev/null
tail -c 5000 $LOG
