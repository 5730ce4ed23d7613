"""Non-finite losses and gradients in training: the step is skipped and reported, and a run that keeps
producing them stops with `TrainingDiverged` instead of writing NaN weights over its last checkpoint.

A training step asks `NonFiniteGuard.losses_ok` before its backward pass and `NonFiniteGuard.gradients_ok`
before the optimizer step; on False it changes no weight: the step keeps its number (``global_step`` moves
on, as a skipped step is reported by number) but the weights stay those of the last good step. With several
processes (DDP) ``agree`` makes every process skip together when any one of them has a bad loss.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping

import torch

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """Too many steps in a row had a non-finite loss or gradient; the last checkpoint was left as it was."""


class NonFiniteGuard:
    """Counts bad steps; ``max_consecutive`` bad steps in a row raise `TrainingDiverged`.

    ``skipped`` is the number of steps skipped so far in this run (logged as ``train/skipped_steps``).
    """

    def __init__(self, max_consecutive: int = 10):
        if max_consecutive < 1:
            raise ValueError(f"max_consecutive must be >= 1, got {max_consecutive}")
        self.max_consecutive = max_consecutive
        self.consecutive = 0
        self.skipped = 0

    def losses_ok(
        self,
        losses: Mapping[str, torch.Tensor | float],
        step: int,
        agree: Callable[[bool], bool] | None = None,
    ) -> bool:
        """True when every loss is finite; else the step is reported (and counted) and must be skipped.

        ``agree(bad) -> any process bad`` (e.g. the Lightning strategy's ``reduce_boolean_decision`` with
        ``all=False``) makes the answer the same on every process.
        """
        bad = {}
        for name, value in losses.items():
            x = value.detach() if torch.is_tensor(value) else torch.tensor(float(value))
            if not bool(torch.isfinite(x).all()):
                bad[name] = float(x.float().sum()) if x.numel() else math.nan
        any_bad = bool(agree(bool(bad))) if agree is not None else bool(bad)
        if not any_bad:
            self.consecutive = 0
            return True
        detail = ", ".join(f"{k}={v}" for k, v in sorted(bad.items())) or "on another process"
        self._bad(step, f"non-finite loss ({detail})")
        return False

    def gradients_ok(self, parameters: Iterable[torch.nn.Parameter], step: int) -> bool:
        """True when every gradient is finite; else the gradients are dropped (``grad = None``, so the
        optimizer leaves the weights alone) and the step is reported and counted."""
        params = [p for p in parameters if p.grad is not None]
        if all(bool(torch.isfinite(p.grad).all()) for p in params):
            return True
        for p in params:
            p.grad = None
        self._bad(step, "non-finite gradient")
        return False

    def _bad(self, step: int, what: str) -> None:
        self.consecutive += 1
        self.skipped += 1
        if self.consecutive >= self.max_consecutive:
            raise TrainingDiverged(
                f"training stopped at step {step}: {self.consecutive} steps in a row had a {what}. The "
                "weights and the last checkpoint are those of the last good step; lower the learning rate "
                "or look for a damaged item in the data, then resume with --ckpt_path last"
            )
        log.warning(
            "step %d: %s; step skipped (%d in a row, training stops at %d)",
            step,
            what,
            self.consecutive,
            self.max_consecutive,
        )
