#!/bin/bash
# Two fits at once on the same cores: seconds per step of the bundled-image fit (kodim03,
# 192x128, PE width 64, 384 groups, end 20) alone and in pairs, vanilla and IGA.
#   bash probes/contention.sh                          # torch's default threads
#   OMP_WAIT_POLICY=PASSIVE TAG=passive bash probes/contention.sh
#   OMP_NUM_THREADS=1 TAG=threads1 bash probes/contention.sh
# Run it with the machine otherwise idle. Results: stdout, run folders under $OUT.
set -e
STEPS=${STEPS:-200}
OUT=${OUT:-runs/contention}/${TAG:-default}
mkdir -p "$OUT"
fit() {
    iga fit image src/iga/data/kodim03.png --size 192x128 --arch pe --width 64 --method "$1" \
        --end 20 --steps "$STEPS" --out "$OUT/$2" --overwrite --quiet > "$OUT/$2.log" 2>&1
}
ms() {
    python -c "import json,sys; print(round(1e3*json.load(open(sys.argv[1]))['seconds_per_step'], 1))" \
        "$OUT/$1/summary.json"
}
for m in vanilla iga; do fit $m alone_$m; echo "${TAG:-default} alone $m: $(ms alone_$m) ms/step"; done
for m in vanilla iga; do
    fit $m pair_${m}_a & fit $m pair_${m}_b & wait
    echo "${TAG:-default} two $m runs at once: $(ms pair_${m}_a) and $(ms pair_${m}_b) ms/step"
done
fit vanilla mixed_vanilla & fit iga mixed_iga & wait
echo "${TAG:-default} vanilla and IGA at once: $(ms mixed_vanilla) and $(ms mixed_iga) ms/step"
