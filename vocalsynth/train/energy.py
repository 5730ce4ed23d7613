"""Training reports shared by every model: run segments (a start or a resume) with their steps, wall time and
energy (codecarbon's offline tracker: a power model, not a meter), merged into ``training_report.json``
beside the exported model, so a voice card can state what training cost.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import Any

REPORT_FILE = "training_report.json"
ENERGY_NOTE = "codecarbon OfflineEmissionsTracker estimate (a power model, not a meter); null: not tracked"


def energy_tracker(country: str | None, folder: Path, project: str):
    """A codecarbon ``OfflineEmissionsTracker`` for ``country`` (ISO 3166 alpha-3) writing to ``folder``,
    not yet started; None when ``country`` is empty or codecarbon is missing."""
    if not country:
        return None
    try:
        from codecarbon import OfflineEmissionsTracker
    except ImportError:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    return OfflineEmissionsTracker(
        country_iso_code=country,
        output_dir=str(folder),
        project_name=project,
        measure_power_secs=60,
        log_level="error",
        allow_multiple_runs=True,
    )


class RunRecord:
    """One run segment (a start or a resume) for the training report: its id, start, steps and energy.

    ``tracker``: a started codecarbon tracker writing to ``energy_dir``, or None; ``energy()`` reads the
    energy so far (the tracker's CSV after a flush), ``energy(final=True)`` stops the tracker.
    """

    def __init__(
        self,
        tracker: Any = None,
        country: str | None = None,
        resumed_from: str | None = None,
        energy_dir: Path | None = None,
    ):
        self.tracker, self.country, self.resumed_from, self.energy_dir = (
            tracker,
            country,
            resumed_from,
            energy_dir,
        )
        self.started = time.time()
        self.id = f"{time.strftime('%Y%m%dT%H%M%S', time.localtime(self.started))}-{os.getpid()}"
        self._final: tuple[float | None, float | None] | None = None

    def energy(self, final: bool = False) -> tuple[float | None, float | None]:
        """``(kWh, kg CO2eq)`` of this segment so far; None where not tracked."""
        if self.tracker is None:
            return None, None
        if self._final is not None:
            return self._final
        try:
            if final:
                emissions = self.tracker.stop()
                data = getattr(self.tracker, "final_emissions_data", None)
                self._final = (float(data.energy_consumed) if data is not None else None, emissions)
                return self._final
            emissions = self.tracker.flush()
            if self.energy_dir is None:
                return None, emissions
            with open(self.energy_dir / "emissions.csv", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
            return (float(rows[-1]["energy_consumed"]) if rows else None), emissions
        except Exception:  # energy is a report detail: never let it stop training
            return None, None

    def as_dict(self, first_step: int, step: int, status: str, final: bool = False) -> dict[str, Any]:
        energy, emissions = self.energy(final)
        return {
            "id": self.id,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.started)),
            "wall_seconds": round(time.time() - self.started, 1),
            "steps": [int(first_step), int(step)],
            "status": status,
            "resumed_from": self.resumed_from,
            "energy_kwh": energy,
            "emissions_kg_co2eq": float(emissions) if emissions is not None else None,
            "energy_country": self.country,
        }


def read_report(path: Path) -> dict[str, Any]:
    """The report at ``path``, or an empty dict when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def total_known(values: list[Any]) -> float | None:
    """Sum of the values that are known (not None), rounded to 6 places; None when none is known."""
    known = [float(v) for v in values if v is not None]
    return round(sum(known), 6) if known else None


def inherited_training(folder: Path) -> dict[str, Any]:
    """What training a model started from (an exported folder with its report) already cost: its path,
    steps, wall time, energy and emissions (its own totals, which include what it inherited in turn)."""
    base = read_report(Path(folder) / REPORT_FILE)
    return {
        "path": str(folder),
        "steps": base.get("steps"),
        "wall_seconds": float(base.get("wall_seconds") or 0.0),
        "energy_kwh": base.get("energy_kwh"),
        "emissions_kg_co2eq": base.get("emissions_kg_co2eq"),
    }


def write_report(
    folder: Path,
    model: str,
    run: dict[str, Any],
    fields: dict[str, Any],
    inherited: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Merge ``run`` into ``folder/training_report.json`` (the entry with its ``id`` replaced; a resumed
    training adds one) and write it atomically with the totals over every run (wall time, energy,
    emissions) and the model's own ``fields``. ``inherited`` (:func:`inherited_training`): the model this
    training started from; its cost is recorded and counted in the totals. Returns the report."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / REPORT_FILE
    old = read_report(path)
    runs = [r for r in old.get("runs", []) if isinstance(r, dict) and r.get("id") != run.get("id")] + [run]
    before = [inherited] if inherited else []
    report = {
        "format": "vocalsynth-training-report",
        "model": model,
        **fields,
        "wall_seconds": round(sum(float(r.get("wall_seconds") or 0.0) for r in [*before, *runs]), 1),
        "energy_kwh": total_known([r.get("energy_kwh") for r in [*before, *runs]]),
        "emissions_kg_co2eq": total_known([r.get("emissions_kg_co2eq") for r in [*before, *runs]]),
        "energy_note": ENERGY_NOTE,
        **({"inherited": inherited} if inherited else {}),
        "runs": runs,
    }
    tmp = path.with_name(f".{REPORT_FILE}.part")
    tmp.write_text(json.dumps(report, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return report
