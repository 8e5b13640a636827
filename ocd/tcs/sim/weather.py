"""Simulated sky conditions for ``ocd sim_tcs`` and ``ocd simulate``: what the guide probes
would measure.

Deterministic for a given seed and time, so a rehearsal or a simulated night can be repeated
exactly.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache

KINDS = ("steady", "drifting", "cloudy", "random")
#: Length (seconds) of the night a ``random`` sky is drawn for; it repeats after that.
_RANDOM_SPAN = 86400.0
#: Most standard deviations :func:`random.gauss` can ever return: it draws
#: ``sqrt(-2 ln(1 - u))`` with ``u`` below 1 by at least 2**-53, so at most
#: ``sqrt(106 ln 2)`` = 8.572. The noise of a sample is bounded by this many sigmas.
GAUSS_BOUND = 8.58


@dataclass(frozen=True)
class _Sky:
    """A ``random`` sky: seeing waves (amplitude, period, phase) and cloudy spells (start,
    length, transparency inside)."""

    waves: tuple[tuple[float, float, float], ...]
    clouds: tuple[tuple[float, float, float], ...]


@lru_cache(maxsize=64)
def _random_sky(seed: int) -> _Sky:
    draw = random.Random(f"ocd-weather-{seed}")
    waves = tuple((draw.uniform(0.05, 0.4), draw.uniform(1800.0, 6 * 3600.0),
                   draw.uniform(0.0, 2 * math.pi)) for _ in range(3))
    clouds = tuple(sorted((draw.uniform(0.0, _RANDOM_SPAN / 2), draw.expovariate(1 / 2400.0),
                           draw.uniform(0.05, 0.6)) for _ in range(draw.randint(0, 3))))
    return _Sky(waves, clouds)


@dataclass(frozen=True)
class Weather:
    """``steady``: good seeing and transparency with small noise. ``drifting``: seeing swings
    slowly between about 1.0" and 3.4" (period ``period`` s). ``cloudy``: steady except that
    transparency drops to 0.2 from ``cloud_start`` for ``cloud_duration`` seconds after the
    start of the simulation. ``random``: drawn from ``seed``: seeing wanders around
    ``seeing`` in three slow waves (up to a factor 3 either way), and up to three cloudy spells
    (mean length 40 min, transparency 0.05 to 0.6) come in the first twelve hours."""

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

    def envelope(self, elapsed: float) -> tuple[float, float, float, float]:
        """Bounds of what :meth:`sample` can return at ``elapsed`` for any guider, whatever
        the noise: (lowest seeing, highest seeing, lowest transparency, highest
        transparency). Cheap (no random draw): a simulation skips the readings that cannot
        cross a limit, and samples only the others."""
        seeing_noise, transparency_noise = GAUSS_BOUND * 0.05, GAUSS_BOUND * 0.01
        base_seeing, base_transparency = self.seeing, self.transparency
        if self.kind == "drifting":
            base_seeing += 1.2 * (1.0 - math.cos(2.0 * math.pi * elapsed / self.period))
        if self.kind == "cloudy" and \
                self.cloud_start <= elapsed < self.cloud_start + self.cloud_duration:
            base_transparency, transparency_noise = 0.2, GAUSS_BOUND * 0.02
        low, high = base_seeing - seeing_noise, base_seeing + seeing_noise
        if self.kind == "random":
            sky = _random_sky(self.seed)
            factor = math.exp(sum(amplitude * math.sin(2.0 * math.pi * elapsed / period + phase)
                                  for amplitude, period, phase in sky.waves))
            low, high = low * factor, high * factor
            for start, length, inside in sky.clouds:
                if start <= elapsed % _RANDOM_SPAN < start + length:
                    base_transparency, transparency_noise = inside, GAUSS_BOUND * 0.02
        return (round(max(0.3, low), 3), round(max(0.3, high), 3),
                round(min(1.0, max(0.0, base_transparency - transparency_noise)), 3),
                round(min(1.0, max(0.0, base_transparency + transparency_noise)), 3))

    def envelope_holds_until(self, elapsed: float) -> float:
        """Until when :meth:`envelope` stays what it is at ``elapsed`` (``steady``: always;
        ``cloudy``: until the spell begins or ends; the others change all the time)."""
        if self.kind == "steady":
            return math.inf
        if self.kind == "cloudy":
            end = self.cloud_start + self.cloud_duration
            return self.cloud_start if elapsed < self.cloud_start else \
                end if elapsed < end else math.inf
        return elapsed

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
        if self.kind == "random":
            sky = _random_sky(self.seed)
            seeing *= math.exp(sum(amplitude * math.sin(2.0 * math.pi * elapsed / period + phase)
                                   for amplitude, period, phase in sky.waves))
            for start, length, inside in sky.clouds:
                if start <= elapsed % _RANDOM_SPAN < start + length:
                    transparency = inside + noise.gauss(0.0, 0.02)
        return round(max(0.3, seeing), 3), round(min(1.0, max(0.0, transparency)), 3)
