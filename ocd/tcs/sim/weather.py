"""Simulated sky conditions for ``ocd sim_tcs``: what the guide probes would measure.

Deterministic for a given seed and time, so a rehearsal can be repeated exactly.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

KINDS = ("steady", "drifting", "cloudy")


@dataclass(frozen=True)
class Weather:
    """``steady``: good seeing and transparency with small noise. ``drifting``: seeing swings
    slowly between about 1.0" and 3.4" (period ``period`` s). ``cloudy``: steady except that
    transparency drops to 0.2 from ``cloud_start`` for ``cloud_duration`` seconds after the
    start of the simulation."""

    kind: str = "steady"
    seeing: float = 1.3
    transparency: float = 0.95
    period: float = 7200.0
    cloud_start: float = 1800.0
    cloud_duration: float = 1800.0
    seed: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown weather {self.kind!r} (expected one of {', '.join(KINDS)})")

    def sample(self, elapsed: float, guider: int) -> tuple[float, float]:
        """Seeing (arcsec) and transparency (0..1) seen by ``guider`` ``elapsed`` seconds of
        OCD time after the start of the simulation."""
        noise = random.Random(hash((self.seed, guider, int(elapsed))))
        seeing = self.seeing + noise.gauss(0.0, 0.05)
        transparency = self.transparency + noise.gauss(0.0, 0.01)
        if self.kind == "drifting":
            seeing += 1.2 * (1.0 - math.cos(2.0 * math.pi * elapsed / self.period))
        if self.kind == "cloudy" and \
                self.cloud_start <= elapsed < self.cloud_start + self.cloud_duration:
            transparency = 0.2 + noise.gauss(0.0, 0.02)
        return round(max(0.3, seeing), 3), round(min(1.0, max(0.0, transparency)), 3)
