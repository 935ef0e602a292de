#!/usr/bin/env bash
# The ASGIT attention study (methods/asgit/README.md, "Measured"): horse2zebra, schedule asgit-cpu,
# reduced networks for a shared CPU (ngf = ndf = 16, 4 residual blocks) in every row, two queues.
# Usage: run_study.sh <code dir> <out dir> <data root> <queue 1|2>
set -u
CODE=$1; OUT=$2; DATA=$3; QUEUE=$4
NETS="--set ngf=16 --set ndf=16 --set n_blocks=4"
OLD="--set transfer_block=learned --set memory_frame=crop --set test_placeholder=ones --set alpha_unguided=ones"
run() {  # method, extra --set flags
  local method=$1; shift
  echo "$(date -u +%FT%TZ) start $method $*"
  PYTHONPATH=$CODE OMP_NUM_THREADS=1 TQDM_DISABLE=1 /work/main/.venv/bin/python -m harness run \
    --task horse2zebra --data-root "$DATA" --methods "$method" --schedule asgit-cpu --out "$OUT" \
    --device cpu $NETS "$@"
  echo "$(date -u +%FT%TZ) end $method $* rc=$?"
}
if [ "$QUEUE" = 1 ]; then
  run asgit-pha-rhp                                   # new defaults (fixed transfer block)
  run asgit-tam-rhp                                   # new defaults
  run cyclegan --set lambda_identity=0                # equal footing: no identity loss
  run asgit-pha-rhp $OLD                              # the previous defaults
else
  run asgit-pha-rhp --set transfer_block=learned      # new defaults, learned g
  run asgit-tam-rhp --set transfer_block=learned
  run cyclegan                                        # the reference code's identity 0.5
  run asgit-tam-rhp $OLD --set attn_norm=none         # the previous defaults
fi
