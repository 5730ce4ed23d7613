#!/usr/bin/env bash
# High-voice recipe: vocalsynth/voices/high, a high, light voice for C4-C6 made only from lawful recordings
# (PJS, NIT-SONG070) by fine-tuning the default voice with a register-shifted training singer added.
#
#   recipes/high/run.sh [--data ../shared/data] [--exp out/high] [--stage 0] [--stop-stage 6]
#
# Stages (each skips work already done, and training resumes from its last checkpoint):
#   0 check data       the corpus folders exist, and the default voice this one starts from
#   1 preprocess       PJS + NIT-SONG070 + vocadito -> features, alignment (PJS), split      -> EXP/data
#   2 derive singers   PJS training songs moved up SEMITONES (12) with formants x FORMANTS (1.25) by WORLD
#                      analysis/synthesis, same timing and labels (notes +12): singer pjs_up12
#                      (python -m vocalsynth.data.register); added to the cache      -> EXP/derived, EXP/data
#   3 train acoustic   the default voice's acoustic model fine-tuned on all of it, pjs_up12 starting as pjs
#                      (configs/acoustic/high.yaml, ACOUSTIC_STEPS, the last ANNEAL_STEPS cooling) -> EXP/acoustic
#   4 train vocoder    the default voice's vocoder fine-tuned on the high singers' audio (real mels;
#                      configs/vocoder/small_gta.yaml's rates, VOCODER_STEPS)                -> EXP/vocoder
#   5 evaluate         a draft voice sings the held-out PJS songs an octave up, No.7 04 and a C5-C6 phrase (validation:
#                      the design choices) and the outside scores at written pitch, with the default voice
#                      an octave down beside it                                                 -> EXP/eval
#   6 package voice    voice folder with card, checksums, energy and figures                   -> EXP/voice
set -euo pipefail
cd "$(dirname "$0")/../.."

data=../shared/data
exp=out/high
stage=0
stop_stage=6
threads=${THREADS:-1}
f0_method=${F0_METHOD:-dio}
semitones=${SEMITONES:-12}
formants=${FORMANTS:-1.25}
acoustic_steps=${ACOUSTIC_STEPS:-700}
anneal_steps=${ANNEAL_STEPS:-200}
vocoder_steps=${VOCODER_STEPS:-500}
base=${BASE_VOICE:-vocalsynth/voices/default}
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
mkdir -p "$exp"
derived=$exp/derived/pjs_up$semitones
sources=(--corpus pjs --data "$data/pjs" --corpus nnsvs --data "$data/nit_song070"
         --corpus vocadito --data "$data/vocadito")

if run_stage 0; then
    echo "stage 0: check data in $data and the base voice $base"
    for d in pjs/flac pjs/metadata.json nit_song070/wav nit_song070/lab_full_aligned vocadito \
             "../../$base/acoustic/model.safetensors" "../../$base/vocoder/model.safetensors"; do
        [ -e "$data/$d" ] || [ -e "$d" ] || { echo "missing $data/$d" >&2; exit 1; }
    done
    [ -e "$base/voice.yaml" ] || { echo "missing base voice $base" >&2; exit 1; }
fi

if run_stage 1; then
    echo "stage 1: preprocess -> $exp/data (resumable)"
    $vs preprocess "${sources[@]}" --out "$exp/data" --f0-method "$f0_method" --workers "$threads"
fi

if run_stage 2; then
    echo "stage 2: derive the high singer -> $derived, then add it to $exp/data"
    $py -m vocalsynth.data.register --cache "$exp/data" --corpus pjs --semitones "$semitones" \
        --formants "$formants" --singer "pjs_up$semitones" --out "$derived"
    $vs preprocess "${sources[@]}" --corpus derived --data "$derived" \
        --licence "CC BY-SA 4.0 (as stated by third-party sources; derived from PJS)" \
        --out "$exp/data" --f0-method "$f0_method" --workers "$threads"
fi

if run_stage 3; then
    echo "stage 3: fine-tune the acoustic model -> $exp/acoustic"
    resume=(); [ -e "$exp/acoustic/checkpoints/last.ckpt" ] && resume=(--ckpt_path last)
    $vs train acoustic --config configs/acoustic/high.yaml --data.init_args.data_dir "$exp/data" \
        --model.init_args.init_from "$base/acoustic" \
        --model.init_args.new_singers_from "{pjs_up$semitones: pjs}" \
        --trainer.default_root_dir "$exp/acoustic" --trainer.max_steps "$acoustic_steps" \
        --model.init_args.anneal_steps "$anneal_steps" \
        --threads "$threads" --energy_country "${ENERGY_COUNTRY:-USA}" "${resume[@]}"
fi

if run_stage 4; then
    echo "stage 4: fine-tune the vocoder on the high singers' audio -> $exp/vocoder"
    resume=(); [ -e "$exp/vocoder/checkpoints/last.ckpt" ] && resume=(--ckpt_path last)
    # real mels, not GTA: the high singers' audio is what the default vocoder had never heard (F0 up to
    # ~800 Hz); two of the derived validation songs are its validation
    $vs train vocoder --config configs/vocoder/small_gta.yaml --num_threads "$threads" \
        --trainer.default_root_dir "$exp/vocoder" --model.init_args.init_from "$base/vocoder" \
        --trainer.max_steps "$vocoder_steps" --model.init_args.decay_steps 1000 \
        --data.init_args.paths "[$derived/audio,$data/nit_song070/wav]" \
        --data.init_args.held_out "[pjs_pjs006_*,pjs_pjs025_*]" --data.init_args.f0_method "$f0_method" \
        --data.init_args.cache_dir "$exp/cache/vocoder" --data.init_args.gta_acoustic null \
        --data.init_args.gta_data null --energy_country "${ENERGY_COUNTRY:-USA}" "${resume[@]}"
fi

if run_stage 5; then
    echo "stage 5: evaluate -> $exp/eval"
    mkdir -p "$exp/eval/validation_scores"
    $py -m vocalsynth.voices.package --acoustic "$exp/acoustic/export" --vocoder "$exp/vocoder/vocoder" \
        --card recipes/high/voice.yaml --out "$exp/eval/draft-voice" --overwrite
    # validation (the design choices were made here, never on the reported songs): the held-out PJS songs'
    # scores an octave up, and No.7 04-05 at written pitch, sung by each candidate singer
    $py - "$data" "$exp" <<'PY'
import sys
from vocalsynth.eval.songs import held_out_songs
from vocalsynth.score import save_score
data, exp = sys.argv[1:]
for song in held_out_songs("pjs", data, cache=f"{exp}/data"):
    save_score(song.score, f"{exp}/eval/validation_scores/{song.item.id}.musicxml")
PY
    for singer in pjs_up$semitones nit_song070_f001; do
        $vs eval --voice "$exp/eval/draft-voice" --singer "$singer" --key-shift 12 \
            --scores "$exp"/eval/validation_scores/*.musicxml --json "$exp/eval/validation_pjs_$singer.json"
    done
    # the vocoder: the fine-tuned neural one against WORLD, on No.7 04.xml and a C5-C6 phrase
    $py -m vocalsynth.voices.package --acoustic "$exp/acoustic/export" --vocoder world \
        --card recipes/high/voice.yaml --out "$exp/eval/draft-world" --overwrite
    for v in draft-voice draft-world; do
        $vs eval --voice "$exp/eval/$v" --key-shift 0 --json "$exp/eval/validation_no7_$v.json" \
            --scores "$data"/../scores/musicxml_ja_no7/04.xml recipes/high/c5_c6.txt
    done
    # the report: outside scores at written pitch, and the default voice an octave down (its own range)
    scores=("$data"/../scores/musicxml_ja_no7/0{1,2,3}.xml "$data"/../scores/musicxml/{haruga_kita,yuki}.xml)
    $vs eval --voice "$exp/eval/draft-voice" --key-shift 0 --scores "${scores[@]}" \
        --json "$exp/eval/outside_high.json"
    $vs eval --voice "$base" --scores "${scores[@]}" --json "$exp/eval/outside_default.json"
    $py - "$exp" <<'PY'
import json, sys
from pathlib import Path
exp = Path(sys.argv[1])
def figures(name):
    t = json.loads((exp / f"eval/{name}.json").read_text())["total"]
    return {"within_50c_pesto_pct": round(100 * t["fraction_pesto"], 2),
            "unvoiced_notes_pct": round(100 * t["unvoiced_pesto"] / t["notes"], 2),
            "dnsmos_p808": round(t["dnsmos_p808"], 3), "whisper_cer": round(t["cer"], 3)}
out = {"outside_scores_written_pitch": {"notes": json.loads((exp / "eval/outside_high.json").read_text())["total"]["notes"],
                                        **figures("outside_high")},
       "default_voice_octave_down_same_scores": figures("outside_default")}
(exp / "eval/figures.json").write_text(json.dumps(out, indent=1) + "\n")
PY
fi

if run_stage 6; then
    echo "stage 6: package voice -> $exp/voice"
    $py -m vocalsynth.voices.package --acoustic "$exp/acoustic/export" --vocoder "$exp/vocoder/vocoder" \
        --card recipes/high/voice.yaml --evaluation "$exp/eval/figures.json" --out "$exp/voice" --overwrite
fi
