"""The simulator's weather models."""

import random
import statistics

import pytest

from ocd.tcs.sim.weather import GAUSS_BOUND, Weather, _normals


def test_steady_is_good_and_repeatable():
    weather = Weather("steady")
    samples = [weather.sample(t, 1) for t in range(0, 7200, 60)]
    assert all(s < 1.6 and t > 0.9 for s, t in samples)
    assert samples == [Weather("steady").sample(t, 1) for t in range(0, 7200, 60)]
    assert weather.sample(10, 1) != weather.sample(10, 2)  # each guider has its own noise


def test_drifting_seeing_swings():
    weather = Weather("drifting", period=3600)
    assert weather.sample(0, 1)[0] < 1.6
    assert weather.sample(1800, 1)[0] > 3.0


def test_cloudy_spell():
    weather = Weather("cloudy", cloud_start=600, cloud_duration=300)
    assert weather.sample(599, 1)[1] > 0.9
    assert weather.sample(700, 1)[1] < 0.3
    assert weather.sample(900, 1)[1] > 0.9


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown weather 'rainy'"):
        Weather("rainy")


def test_random_weather_is_drawn_from_its_seed():
    def night(seed):
        return [Weather("random", seed=seed).sample(t, 1) for t in range(0, 43200, 300)]

    assert night(7) == night(7)
    assert night(7) != night(8)
    seeings = [s for seed in range(20) for s, _ in night(seed)]
    transparencies = [t for seed in range(20) for _, t in night(seed)]
    # over twenty nights the sky is sometimes poor and sometimes cloudy, mostly fine
    assert min(seeings) < 1.0 and max(seeings) > 3.0
    assert min(transparencies) < 0.5 and sorted(transparencies)[len(transparencies) // 2] > 0.9


@pytest.mark.parametrize("kind", ["steady", "drifting", "cloudy", "random"])
def test_every_sample_lies_within_the_envelope(kind):
    """A simulation skips the readings the envelope says cannot cross a limit: every reading
    of every guider over a stretch must lie within the stretch's bounds."""
    draw = random.Random(f"envelope-{kind}")
    for seed in range(40):
        weather = Weather(kind, seed=seed, cloud_start=draw.uniform(0, 3600),
                          cloud_duration=draw.uniform(60, 3600))
        for _ in range(20):
            first = float(draw.randrange(0, 90000, 10))
            last = first + draw.choice([0, 10, 300, 3000])
            low, high, dim, clear = weather.envelope(first, last)
            for t in range(int(first), int(last) + 1, 10):
                for guider in (1, 2, 3):
                    seeing, transparency = weather.sample(t, guider)
                    assert low <= seeing <= high, (seed, t, guider)
                    assert dim <= transparency <= clear, (seed, t, guider)


def test_the_noise_is_normal_and_each_guiders_own():
    """The counter-based noise: mean 0, standard deviation 1, the two draws uncorrelated,
    and the bound the envelope relies on never passed."""
    draws = [_normals(5, guider, step) for guider in (1, 2) for step in range(20000)]
    for column in zip(*draws, strict=True):
        assert abs(statistics.fmean(column)) < 0.03
        assert abs(statistics.stdev(column) - 1.0) < 0.03
        assert max(abs(x) for x in column) < GAUSS_BOUND
    assert abs(statistics.correlation(*zip(*draws, strict=True))) < 0.03
    assert _normals(5, 1, 7) == _normals(5, 1, 7) != _normals(5, 2, 7)
