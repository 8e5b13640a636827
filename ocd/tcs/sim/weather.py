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
#: Most standard deviations a sample's noise can reach: :func:`_normals` draws
#: ``sqrt(-2 ln(1 - u))`` with ``u`` below 1 by at least 2**-53, so at most
#: ``sqrt(106 ln 2)`` = 8.572. The noise of a sample is bounded by this many sigmas.
GAUSS_BOUND = 8.58
_MASK = (1 << 64) - 1
_TWO_PI = 2.0 * math.pi


def _normals(seed: int, guider: int, step: int) -> tuple[float, float]:
    """Two independent standard normal draws, the same for the same seed, guider and step.

    A counter-based draw (splitmix64 over the three numbers, then Box-Muller) rather than a
    generator seeded per sample: a simulated night draws tens of thousands of samples, and
    seeding :class:`random.Random` or numpy's generators costs more than the whole sample.
    """
    x = (seed * 0x9E3779B97F4A7C15 + guider * 0xD1B54A32D192ED03 + step * 0xAEF17502108EF2D9) \
        & _MASK
    words = []
    for _ in range(2):
        x = (x + 0x9E3779B97F4A7C15) & _MASK
        z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        words.append((z ^ (z >> 31)) >> 11)  # 53 bits: a uniform in [0, 1) once scaled
    angle = words[0] * (_TWO_PI / 2**53)
    radius = math.sqrt(-2.0 * math.log(1.0 - words[1] / 2**53))
    return radius * math.cos(angle), radius * math.sin(angle)


@dataclass(frozen=True)
class _Sky:
    """A ``random`` sky: seeing waves (amplitude, period, phase) and cloudy spells (start,
    length, transparency inside); ``omegas`` (radians a second), ``rate`` (the largest slope
    of the waves' sum) and ``most`` (the largest sum) of the waves, computed once."""

    waves: tuple[tuple[float, float, float], ...]
    clouds: tuple[tuple[float, float, float], ...]
    omegas: tuple[float, ...] = ()
    rate: float = 0.0
    most: float = 0.0

    def wave(self, t: float) -> float:
        """The waves' sum at ``t``: the logarithm of the seeing's factor."""
        total = 0.0
        for (amplitude, _, phase), omega in zip(self.waves, self.omegas, strict=True):
            total += amplitude * math.sin(omega * t + phase)
        return total


@lru_cache(maxsize=64)
def _random_sky(seed: int) -> _Sky:
    draw = random.Random(f"ocd-weather-{seed}")
    waves = tuple((draw.uniform(0.05, 0.4), draw.uniform(1800.0, 6 * 3600.0),
                   draw.uniform(0.0, 2 * math.pi)) for _ in range(3))
    clouds = tuple(sorted((draw.uniform(0.0, _RANDOM_SPAN / 2), draw.expovariate(1 / 2400.0),
                           draw.uniform(0.05, 0.6)) for _ in range(draw.randint(0, 3))))
    omegas = tuple(2.0 * math.pi / period for _, period, _ in waves)
    return _Sky(waves, clouds, omegas,
                sum(a * omega for (a, _, _), omega in zip(waves, omegas, strict=True)),
                sum(a for a, _, _ in waves))


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

    def envelope(self, first: float, last: float | None = None
                 ) -> tuple[float, float, float, float]:
        """Bounds of what :meth:`sample` can return from ``first`` to ``last`` seconds
        (default: at ``first``) for any guider, whatever the noise: (lowest seeing, highest
        seeing, lowest transparency, highest transparency). Cheap (no random draw): a
        simulation skips the readings that cannot cross a limit, and samples only the
        others. The slow parts are bounded by their slopes: a smooth ``f`` of slope at most
        ``k`` stays within ``(f(a) + f(b) -+ k (b - a)) / 2`` on ``[a, b]``."""
        last = first if last is None else last
        length = last - first
        low = high = self.seeing
        if self.kind == "drifting":
            ends = [1.2 * (1.0 - math.cos(2.0 * math.pi * t / self.period))
                    for t in (first, last)]
            slope = 1.2 * 2.0 * math.pi / self.period * length
            low += max(0.0, (sum(ends) - slope) / 2)
            high += min(2.4, (sum(ends) + slope) / 2)
        low, high = low - GAUSS_BOUND * 0.05, high + GAUSS_BOUND * 0.05
        spells: list[tuple[float, float]] = []  # (transparency, noise) that can hold
        if self.kind == "random":
            sky = _random_sky(self.seed)
            both = sky.wave(first) + sky.wave(last)
            slope = sky.rate * length
            wave_low = math.exp(max(-sky.most, (both - slope) / 2))
            wave_high = math.exp(min(sky.most, (both + slope) / 2))
            low *= wave_low if low >= 0 else wave_high
            high *= wave_high if high >= 0 else wave_low
            spells, covered = self._random_spells(sky, first, last)
        elif self.kind == "cloudy":
            end = self.cloud_start + self.cloud_duration
            if first < end and last >= self.cloud_start:
                spells.append((0.2, GAUSS_BOUND * 0.02))
            covered = self.cloud_start <= first and last < end
        else:
            covered = False
        if not covered:
            spells.append((self.transparency, GAUSS_BOUND * 0.01))
        dim = min(t - noise for t, noise in spells)
        clear = max(t + noise for t, noise in spells)
        return (round(max(0.3, low), 3), round(max(0.3, high), 3),
                round(min(1.0, max(0.0, dim)), 3), round(min(1.0, max(0.0, clear)), 3))

    @staticmethod
    def _random_spells(sky: _Sky, first: float, last: float
                       ) -> tuple[list[tuple[float, float]], bool]:
        """The cloudy spells of a ``random`` sky met from ``first`` to ``last``, and whether
        one covers it all."""
        a, b = first % _RANDOM_SPAN, last % _RANDOM_SPAN
        wraps = last - first >= _RANDOM_SPAN or b < a
        spells, covered = [], False
        for start, length, inside in sky.clouds:
            if wraps or (a < start + length and b >= start):
                spells.append((inside, GAUSS_BOUND * 0.02))
                covered = covered or (not wraps and start <= a and b < start + length)
        return spells, covered

    def sample(self, elapsed: float, guider: int) -> tuple[float, float]:
        """Seeing (arcsec) and transparency (0..1) seen by ``guider`` ``elapsed`` seconds of
        OCD time after the start of the simulation."""
        seeing_noise, transparency_noise = _normals(self.seed, guider, int(elapsed))
        seeing = self.seeing + 0.05 * seeing_noise
        transparency = self.transparency + 0.01 * transparency_noise
        if self.kind == "drifting":
            seeing += 1.2 * (1.0 - math.cos(2.0 * math.pi * elapsed / self.period))
        if self.kind == "cloudy" and \
                self.cloud_start <= elapsed < self.cloud_start + self.cloud_duration:
            transparency = 0.2 + 0.02 * transparency_noise
        if self.kind == "random":
            sky = _random_sky(self.seed)
            seeing *= math.exp(sky.wave(elapsed))
            for start, length, inside in sky.clouds:
                if start <= elapsed % _RANDOM_SPAN < start + length:
                    transparency = inside + 0.02 * transparency_noise
        return round(max(0.3, seeing), 3), round(min(1.0, max(0.0, transparency)), 3)
