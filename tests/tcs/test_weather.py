"""The simulator's weather models."""

import pytest

from ocd.tcs.sim.weather import Weather


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
