#!/usr/bin/env bash
# PJS recipe: the default voice, from the real singing in a data folder (never copied into the repo).
#
#   recipes/pjs/run.sh [--data ../shared/data] [--exp out/pjs] [--stage 0] [--stop-stage 5]
#
# Stages (each skips work already done, and training resumes from its last checkpoint):
#   0 check data      the corpus folders exist and carry their licences
#   1 preprocess      PJS + NIT-SONG070 + vocadito -> features, alignment (PJS), split, stats   -> EXP/data
#   2 train acoustic  configs/acoustic/small.yaml on EXP/data: ACOUSTIC_STEPS steps, then ANNEAL_STEPS
#                     more with the rate cooling to zero and the decoder also learning from its own
#                     energy/breathiness (own_variance_share 0.5)                            -> EXP/acoustic
#   3 train vocoder   configs/vocoder/small.yaml on all the singing, then configs/vocoder/small_gta.yaml:
#                     fine-tuned on the acoustic model's GTA mels            -> EXP/vocoder, EXP/vocoder_gta
#   4 evaluate        aligner vs NIT-SONG070 hand labels; vocoder copy-synthesis vs WORLD; a draft
#                     voice sings the held-out PJS songs from their scores (vocalsynth eval)     -> EXP/eval
#   5 package voice   voice folder with card, checksums, energy and figures                     -> EXP/voice
set -euo pipefail
cd "$(dirname "$0")/../.."

data=../shared/data
exp=out/pjs
stage=0
stop_stage=5
threads=${THREADS:-1}
f0_method=${F0_METHOD:-dio}         # harvest is more accurate but ~7x slower on 2 cores
acoustic_hours=${ACOUSTIC_HOURS:-2}  # a time limit on the first part of stage 2
acoustic_steps=${ACOUSTIC_STEPS:-10800}
anneal_steps=${ANNEAL_STEPS:-3000}
vocoder_hours=${VOCODER_HOURS:-2}
while [ $# -gt 0 ]; do
    case "$1" in
        --data) data=$2; shift 2 ;;
        --exp) exp=$2; shift 2 ;;
        --stage) stage=$2; shift 2 ;;
        --stop-stage) stop_stage=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
vs=${VOCALSYNTH:-vocalsynth}
py=${PYTHON:-python3}
run_stage() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
hms() { printf '00:%02d:%02d:00' "$(( $1 ))" 0; }
mkdir -p "$exp"

if run_stage 0; then
    echo "stage 0: check data in $data"
    for d in pjs/flac pjs/metadata.json nit_song070/wav nit_song070/lab_full_aligned vocadito; do
        [ -e "$data/$d" ] || { echo "missing $data/$d (see ../shared/data/README.md)" >&2; exit 1; }
    done
fi

if run_stage 1; then
    echo "stage 1: preprocess -> $exp/data (resumable)"
    $vs preprocess --corpus pjs --data "$data/pjs" --corpus nnsvs --data "$data/nit_song070" \
        --corpus vocadito --data "$data/vocadito" --out "$exp/data" --f0-method "$f0_method"
fi

if run_stage 2; then
    echo "stage 2: train acoustic -> $exp/acoustic"
    resume=(); [ -e "$exp/acoustic/checkpoints/last.ckpt" ] && resume=(--ckpt_path last)
    if [ -e "$exp/acoustic/export/model.safetensors" ] && [ ${#resume[@]} -eq 0 ]; then
        echo "  already trained ($exp/acoustic/export)"
    else
        common=(--config configs/acoustic/small.yaml --data.init_args.data_dir "$exp/data"
                --trainer.default_root_dir "$exp/acoustic" --threads "$threads"
                --energy_country "${ENERGY_COUNTRY:-USA}")
        $vs train acoustic "${common[@]}" --trainer.max_steps "$acoustic_steps" \
            --trainer.max_time "$(hms "$acoustic_hours")" "${resume[@]}"
        # the cool-down resumes the same run (a checkpoint already past these steps ends at once)
        $vs train acoustic "${common[@]}" --trainer.max_steps "$(( acoustic_steps + anneal_steps ))" \
            --model.init_args.anneal_steps "$anneal_steps" --model.init_args.own_variance_share 0.5 \
            --ckpt_path last
    fi
fi

if run_stage 3; then
    echo "stage 3: train vocoder -> $exp/vocoder"
    resume=(); [ -e "$exp/vocoder/checkpoints/last.ckpt" ] && resume=(--ckpt_path last)
    $vs train vocoder --config configs/vocoder/small.yaml --num_threads "$threads" \
        --trainer.default_root_dir "$exp/vocoder" --trainer.max_time "$(hms "$vocoder_hours")" \
        --data.init_args.paths "[$data/pjs/flac,$data/nit_song070/wav,$data/vocadito/vocadito/Audio]" \
        --data.init_args.cache_dir "$exp/cache/vocoder" --energy_country "${ENERGY_COUNTRY:-USA}" "${resume[@]}"
    echo "stage 3: fine-tune the vocoder on the acoustic model's GTA mels -> $exp/vocoder_gta"
    resume=(); [ -e "$exp/vocoder_gta/checkpoints/last.ckpt" ] && resume=(--ckpt_path last)
    $vs train vocoder --config configs/vocoder/small_gta.yaml --num_threads "$threads" \
        --trainer.default_root_dir "$exp/vocoder_gta" --model.init_args.init_from "$exp/vocoder/vocoder" \
        --data.init_args.paths "[$data/pjs/flac,$data/nit_song070/wav,$data/vocadito/vocadito/Audio]" \
        --data.init_args.cache_dir "$exp/cache/vocoder" --data.init_args.gta_acoustic "$exp/acoustic/export" \
        --data.init_args.gta_data "$exp/data" --energy_country "${ENERGY_COUNTRY:-USA}" "${resume[@]}"
fi

if run_stage 4; then
    echo "stage 4: evaluate -> $exp/eval"
    mkdir -p "$exp/eval"
    $py -m vocalsynth.eval.alignment --data "$data/nit_song070" --no-self-train --json \
        | tee "$exp/eval/alignment.txt"
    $py -m vocalsynth.eval.vocoder_metrics --threads "$threads" --vocoder "$exp/vocoder_gta/vocoder" \
        --files "$data"/pjs/flac/pjs09[1-5]_song.flac --json "$exp/eval/vocoder.json" | tee "$exp/eval/vocoder.txt"
    # the voice as it will ship, on the songs the acoustic model never trained on
    $py -m vocalsynth.voices.package --acoustic "$exp/acoustic/export" --vocoder "$exp/vocoder_gta/vocoder" \
        --card recipes/pjs/voice.yaml --out "$exp/eval/draft-voice" --overwrite
    $vs eval --voice "$exp/eval/draft-voice" --corpus pjs --data "$data" --cache "$exp/data" \
        --out "$exp/eval/heldout" --threads "$threads"
    # the card's evaluation figures: vocoder copy-synthesis + the acoustic model's last validation metrics
    $py - "$exp" <<'PY'
import json, sys
from pathlib import Path
exp = Path(sys.argv[1])
import csv
val = {}
for log in sorted((exp / "acoustic/logs").glob("version_*/metrics.csv"), key=lambda p: p.stat().st_mtime):
    for row in csv.DictReader(log.open()):
        if row.get("val/mel_l1"):
            val = {k: float(v) for k, v in row.items() if v and (k.startswith("val/") or k == "step")}
held = json.loads((exp / "eval/heldout/report.json").read_text())
voice = held["summary"]["voice"]
keys = ("mcd_db", "f0_rmse_cents", "vuv_error_pct", "within_50c_pesto_pct", "dnsmos_p808_minus_recording")
figures = {
    "heldout_pjs_sung_from_score": {"songs": " ".join(held["songs"]), **{k: round(voice[k], 3) for k in keys}},
    "vocoder_copy_synthesis_pjs091_095": json.loads((exp / "eval/vocoder.json").read_text())["vocoders"],
    "acoustic_validation_last": val,
}
(exp / "eval/figures.json").write_text(json.dumps(figures, indent=1) + "\n")
PY
fi

if run_stage 5; then
    echo "stage 5: package voice -> $exp/voice"
    $py -m vocalsynth.voices.package --acoustic "$exp/acoustic/export" --vocoder "$exp/vocoder_gta/vocoder" \
        --card recipes/pjs/voice.yaml --evaluation "$exp/eval/figures.json" --out "$exp/voice" --overwrite
fi
