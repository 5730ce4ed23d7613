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
#                      (configs/acoustic/high.yaml, ACOUSTIC_STEPS)                          -> EXP/acoustic
#   4 train vocoder    the default voice's vocoder fine-tuned on this model's GTA mels of the high singers'
#                      audio (configs/vocoder/small_gta.yaml, VOCODER_STEPS)                 -> EXP/vocoder_gta
#   5 evaluate         a draft voice sings the held-out PJS songs an octave up (validation: the design
#                      choices) and the outside scores at written pitch, with the default voice an octave
#                      down beside it                                                          -> EXP/eval
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
acoustic_steps=${ACOUSTIC_STEPS:-3000}
vocoder_steps=${VOCODER_STEPS:-1500}
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
        --threads "$threads" --energy_country "${ENERGY_COUNTRY:-USA}" "${resume[@]}"
fi

if run_stage 4; then
    echo "stage 4: fine-tune the vocoder on the high singers' GTA mels -> $exp/vocoder_gta"
    resume=(); [ -e "$exp/vocoder_gta/checkpoints/last.ckpt" ] && resume=(--ckpt_path last)
    $vs train vocoder --config configs/vocoder/small_gta.yaml --num_threads "$threads" \
        --trainer.default_root_dir "$exp/vocoder_gta" --model.init_args.init_from "$base/vocoder" \
        --trainer.max_steps "$vocoder_steps" --model.init_args.decay_steps "$vocoder_steps" \
        --data.init_args.paths "[$derived/audio,$data/nit_song070/wav]" --data.init_args.held_out "[]" \
        --data.init_args.f0_method "$f0_method" --data.init_args.cache_dir "$exp/cache/vocoder" \
        --data.init_args.gta_acoustic "$exp/acoustic/export" --data.init_args.gta_data "$exp/data" \
        --energy_country "${ENERGY_COUNTRY:-USA}" "${resume[@]}"
fi

if run_stage 5; then
    echo "stage 5: evaluate -> $exp/eval"
    mkdir -p "$exp/eval"
    $py -m vocalsynth.voices.package --acoustic "$exp/acoustic/export" --vocoder "$exp/vocoder_gta/vocoder" \
        --card recipes/high/voice.yaml --out "$exp/eval/draft-voice" --overwrite
    # validation (the choices were made here): the held-out PJS songs' scores an octave up
    $py -m vocalsynth.eval.register_check --voice "$exp/eval/draft-voice" --data "$data" \
        --cache "$exp/data" --key-shift 12 --out "$exp/eval/validation" --threads "$threads"
    # the report: outside scores at written pitch, and the default voice an octave down
    scores=("$data"/../scores/musicxml_ja_no7/*.xml "$data"/../scores/musicxml/{yuki,haruga_kita}.xml)
    $vs eval --voice "$exp/eval/draft-voice" --scores "${scores[@]}" --key-shift 0 \
        --out "$exp/eval/outside_high" --threads "$threads"
    $vs eval --voice "$base" --scores "${scores[@]}" --out "$exp/eval/outside_default" --threads "$threads"
fi

if run_stage 6; then
    echo "stage 6: package voice -> $exp/voice"
    $py -m vocalsynth.voices.package --acoustic "$exp/acoustic/export" --vocoder "$exp/vocoder_gta/vocoder" \
        --card recipes/high/voice.yaml --evaluation "$exp/eval/figures.json" --out "$exp/voice" --overwrite
fi
