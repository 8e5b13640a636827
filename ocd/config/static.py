"""Files shipped inside the package (``ocd/static``): the master configuration, the schemas
of the observation-number table, and the samples a rehearsal uses."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def static_file(name: str) -> Path:
    """Path of a file shipped in ``ocd/static``."""
    return Path(str(resources.files("ocd").joinpath("static").joinpath(name)))


def samples_dir() -> Path:
    """The directory of the shipped samples."""
    return static_file("samples")


def sample_night() -> Path:
    """The recorded sample night (``ocd record`` of ``ocd sim_tcs``) a rehearsal replays."""
    return samples_dir() / "night.db"


def rehearsal_config() -> Path:
    """The configuration of ``ocd rehearse`` (sample shots, inputs and night)."""
    return samples_dir() / "rehearsal.cfg"


def single_host_config() -> Path:
    """The single-host address plan: every OCD address an ipc socket in the private
    ``${OCD_RUNTIME_DIR}`` (also ``conf/single-host.cfg``)."""
    return samples_dir() / "single-host.cfg"


def sample_shot_file() -> Path:
    """The sample shot list shipped with OCD (HETDEX-like shots for rehearsals and tests)."""
    return samples_dir() / "shots.dat"
