#!/usr/bin/env bash
# The ASGIT attention study with controls (methods/asgit/README.md, "Measured"): horse2zebra, schedule
# asgit-cpu, reduced networks for a shared CPU (ngf = ndf = 16, 4 residual blocks) in every row, one
# queue. CycleGAN (no identity loss) runs first, so each ASGIT run finds it as its control generator.
# Usage: run_study.sh <code dir> <out dir> <data root>; then python -m methods.asgit.study.table <out dir>
set -u
CODE=$1; OUT=$2; DATA=$3
NETS="--set ngf=16 --set ndf=16 --set n_blocks=4"
run() {  # method, extra --set flags
  local method=$1; shift
  echo "$(date -u +%FT%TZ) start $method $*"
  PYTHONPATH=$CODE OMP_NUM_THREADS=1 TQDM_DISABLE=1 nice -n 5 python -m harness run \
    --task horse2zebra --data-root "$DATA" --methods "$method" --schedule asgit-cpu --out "$OUT" \
    --device cpu $NETS "$@"
  echo "$(date -u +%FT%TZ) end $method $* rc=$?"
}
run cyclegan --set lambda_identity=0                # the control: never sees a map, ASGIT's footing
run asgit-pha-rhp
run asgit-tam-rhp
run asgit-pha-alpha                                 # Alpha: the control is an untrained 4-channel G
run asgit-tam-alpha
run asgit-pha-rhp --set attn_source=shuffled        # the ablations: another image's map
run asgit-pha-rhp --set attn_source=constant        # a constant map of the same mean
