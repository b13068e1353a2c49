#!/bin/bash
# Device call 2: A-CF compute variants on the full workload (fp32 main phases), then every main
# phase with the fastest variant, then, when PROBE names a plain-PyTorch eager probe script, that
# probe on the same card.
[ -n "$PROBE" ] && PROBE=$(realpath "$PROBE")
cd "$(dirname "$0")"
TL=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')/lib
export LD_LIBRARY_PATH=$TL
LOG=$OUT/log.txt
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; ./unlearn --version; } >>$LOG 2>&1
V=fp32,cl,in,bf16,bf16+cl,bf16+in,cl+in,bf16+cl+in
timeout ${MAIN_S:-150} ./unlearn bench --device cuda --sweep-train none --sweep-ipc none --acf-variants $V --variant-steps 150 --out main >>$LOG 2>&1; echo "main rc=$? ${SECONDS} s" >>$LOG
cp main/bench.json $OUT/bench_variants.json 2>/dev/null; cp main/bench.txt $OUT/bench_variants.txt 2>/dev/null
BEST=$(python3 -c "
import json,math;d=json.load(open('main/bench.json'))
v=[(p['seconds'],p['phase'][5:-1]) for p in d['phases'] if p['phase'].startswith('a_cf[') and not math.isnan(p['seconds'] or float('nan'))]
print(min(v)[1] if v else 'fp32')" 2>>$LOG)
echo "fastest variant: $BEST" >>$LOG
timeout ${BEST_S:-110} ./unlearn bench --device cuda --sweep-train none --sweep-ipc none --compute "${BEST:-fp32}" --out best >>$LOG 2>&1; echo "best rc=$? ${SECONDS} s" >>$LOG
cp best/bench.json $OUT/bench_best.json 2>/dev/null; cp best/bench.txt $OUT/bench_best.txt 2>/dev/null
if [ -n "$PROBE" ]; then
  cd $OUT && timeout ${PROBE_S:-80} python3 "$PROBE" >>$LOG 2>&1; echo "probe rc=$? ${SECONDS} s" >>$LOG
else
  echo "probe: skipped (no PROBE given)" >>$LOG
fi
cat $OUT/bench_variants.txt $OUT/bench_best.txt 2>/dev/null; tail -n 5 $LOG
