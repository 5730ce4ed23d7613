"""`python -m vocalsynth.voices.package`: a recipe's last stage — trained models + card fields -> voice folder.

The card's facts come from files, not from memory: the data licences, steps and energy from the acoustic
model's ``training_report.json``, the evaluation figures from the JSON the recipe's evaluate stage wrote,
the commit from git. What only a person can state (licence of the voice, consent, description) comes from
the recipe's card YAML.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from vocalsynth.errors import InputError
from vocalsynth.train.energy import total_known
from vocalsynth.voices.card import package_voice


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def _json(path: Path | None) -> dict[str, Any]:
    if path is None or not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def _steps(report: dict[str, Any]) -> int | None:
    """Training steps of a model, with those of the model it started from (a refiner on a finished model,
    a vocoder fine-tuned from another)."""
    own, base = report.get("steps"), (report.get("inherited") or {}).get("steps")
    return None if own is None else int(own) + int(base or 0)


# fields of the card template that go onto the card as they are
EXTRA_FIELDS = ("range", "character", "design")


def build(args: argparse.Namespace) -> Path:
    card = yaml.safe_load(Path(args.card).read_text(encoding="utf-8"))
    acoustic = Path(args.acoustic)
    report = _json(acoustic / "training_report.json")
    vocoder_cfg = _json(Path(args.vocoder) / "config.json") if args.vocoder != "world" else {}
    # the vocoder's own report (training since energy tracking reached the vocoder); else the card's hours
    vocoder_report = _json(Path(args.vocoder) / "training_report.json") if args.vocoder != "world" else {}
    # a vocoder fine-tuned from one that kept no report (its wall time unknown): the card gives that part
    untracked_base = (vocoder_report.get("inherited") or {"wall_seconds": 1.0})["wall_seconds"] == 0
    vocoder_hours = (
        vocoder_report["wall_seconds"] / 3600
        + (float(card.get("vocoder_training_hours", 0.0)) if untracked_base else 0.0)
        if vocoder_report.get("wall_seconds")
        else float(card.get("vocoder_training_hours", 0.0))
    )
    both = report.get("energy_kwh") is not None and vocoder_report.get("energy_kwh") is not None
    training = {
        "hardware": card.get("hardware", "2-core x86_64 CPU, no GPU"),
        "hours": round(report.get("wall_seconds", 0.0) / 3600 + vocoder_hours, 2),
        "energy_kwh": total_known([report.get("energy_kwh"), vocoder_report.get("energy_kwh")]),
        "co2_kg": total_known([report.get("emissions_kg_co2eq"), vocoder_report.get("emissions_kg_co2eq")]),
        "acoustic_steps": _steps(report),
        "vocoder_steps": _steps(vocoder_report)
        if vocoder_report.get("steps") is not None
        else (vocoder_cfg.get("extra") or {}).get("global_step"),
        **(
            {"refiner_steps": report.get("steps")}
            if (report.get("hyper_parameters") or {}).get("train_part") == "refiner"
            else {}
        ),
        "energy_note": (report.get("energy_note") or "")
        + (
            (
                "; acoustic model and vocoder (the vocoder's fine-tune only: the training it started from "
                "was not tracked)"
                if untracked_base
                else "; acoustic model and vocoder"
            )
            if both
            else "; acoustic model only — the vocoder's energy was not tracked"
        ),
    }
    evaluation = _json(Path(args.evaluation)) if args.evaluation else {}
    voice = package_voice(
        acoustic,
        args.vocoder,
        args.out,
        name=card["name"],
        version=str(card["version"]),
        licence=card["licence"],
        consent=card["consent"],
        description=card.get("description", ""),
        training_data=card["training_data"],
        training=training,
        reproduce={"recipe": card["recipe"], "config": card["config"], "commit": _commit()},
        evaluation=evaluation,
        languages=card.get("languages"),
        singers=card.get("singers"),
        default_singer=card.get("default_singer"),
        extra={k: card[k] for k in EXTRA_FIELDS if k in card},
        overwrite=args.overwrite,
    )
    return Path(voice.path) if hasattr(voice, "path") else Path(args.out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vocalsynth.voices.package", description=__doc__)
    p.add_argument(
        "--acoustic", required=True, help="exported acoustic model folder (with training_report.json)"
    )
    p.add_argument("--vocoder", required=True, help="exported vocoder folder, or 'world'")
    p.add_argument(
        "--card", required=True, help="YAML with name, version, licence, consent, training_data, ..."
    )
    p.add_argument("--evaluation", help="JSON of evaluation figures to put on the card")
    p.add_argument("--out", required=True, help="voice folder to create")
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    try:
        out = build(args)
    except (InputError, OSError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"voice written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
