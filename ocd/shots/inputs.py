"""The per-shot input files: guide/wavefront-sensor stars and the ACAM finding image.

The HETDEX shuffle tool writes, per shot and track, ``{shotid}_{ifuslot}_{track}.cfg`` in
``[run_shot] shuffle_dir`` and ``{shotid}_{ifuslot}_{track}.jpg`` in ``[run_shot] acam_dir``
(names from the ``*_template`` options). The original formats were never public; OCD reads this
plain format (doc/shot-inputs.md)::

    # role     ra (deg)     dec (deg)   mag
    guider1    163.87912    51.12801    14.2
    guider2    163.95120    51.16010    13.8
    wfs1       163.90011    51.14002    12.9
    wfs2       163.91234    51.13511    13.1

``guider1`` and ``guider2`` are required; ``wfs1``/``wfs2`` optional; each role at most once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ocd.config import fill_template
from ocd.errors import OcdError
from ocd.shots.files import MAX_STAR_FILE_BYTES, read_regular
from ocd.shots.model import TRACK_EAST, TRACK_WEST, Shot

ROLES = ("guider1", "guider2", "wfs1", "wfs2")
REQUIRED_ROLES = ("guider1", "guider2")


class ShotInputError(OcdError):
    """A per-shot input file is missing or malformed; the message names file and line."""


@dataclass(frozen=True)
class Star:
    role: str
    ra: float
    dec: float
    mag: float

    def as_dict(self) -> dict[str, object]:
        return {"role": self.role, "ra": self.ra, "dec": self.dec, "mag": self.mag}


@dataclass(frozen=True)
class ShotInputs:
    stars: tuple[Star, ...]
    acam_image: Path


@dataclass(frozen=True)
class InputLocator:
    """Where the files of a shot are, from the ``[run_shot]`` directories and templates."""

    shuffle_dir: Path
    shuffle_template: str
    acam_dir: Path
    acam_template: str

    def paths(self, shotid: str, ifuslot: str, track: str) -> tuple[Path, Path]:
        fields = {"shotid": shotid, "ifuslot": ifuslot, "track": track}
        try:
            return (self.shuffle_dir / fill_template(self.shuffle_template, fields),
                    self.acam_dir / fill_template(self.acam_template, fields))
        except ValueError as exc:
            raise ShotInputError(f"bad file name template: {exc}") from None

    def load(self, shotid: str, ifuslot: str, track: str) -> ShotInputs:
        stars_path, acam_path = self.paths(shotid, ifuslot, track)
        stars = parse_stars(stars_path)
        if not acam_path.is_file():
            raise ShotInputError(f"{acam_path}: ACAM finding image not found")
        return ShotInputs(stars, acam_path)


def tracks_of(shot: Shot) -> tuple[str, ...]:
    """The tracks a shot may take (``E``, ``W`` or both), as the runner names them."""
    return ("E",) if shot.track == TRACK_EAST else ("W",) if shot.track == TRACK_WEST \
        else ("E", "W")


def lacking_inputs(locator: InputLocator, shots: Iterable[Shot]) -> list[str]:
    """``SHOTID TRACK`` of each track of a shot still to observe whose star file or ACAM
    image is not there: said before a simulated night, which would otherwise spend its time
    failing those shots. Only their presence is checked; their content is read when a shot
    runs."""
    lacking = []
    for shot in shots:
        if shot.n_obs <= 0:
            continue
        for track in tracks_of(shot):
            try:
                paths = locator.paths(shot.shotid, shot.qifu, track)
            except ShotInputError:
                return [f"{shot.shotid} {track}"]  # a bad template: every shot lacks them
            if not all(path.is_file() for path in paths):
                lacking.append(f"{shot.shotid} {track}")
    return lacking


def _star_text(path: Path) -> str:
    """A star file's text: a regular file of at most ``MAX_STAR_FILE_BYTES``, in UTF-8."""
    try:
        return read_regular(path, MAX_STAR_FILE_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise ShotInputError(f"{path}: guide star file not found") from None
    except OSError as exc:
        raise ShotInputError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ShotInputError(f"{path}: not UTF-8 text") from None


def parse_stars(path: Path) -> tuple[Star, ...]:
    """Read a star file; every error names the file and line."""
    text = _star_text(path)
    stars: dict[str, Star] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0].split()
        if not content:
            continue
        where = f"{path}:{lineno}"
        if len(content) != 4:
            raise ShotInputError(f"{where}: expected 4 columns (role ra dec mag), "
                                 f"found {len(content)}")
        role = content[0].lower()
        if role not in ROLES:
            raise ShotInputError(f"{where}: unknown role {content[0]!r} "
                                 f"(expected one of {', '.join(ROLES)})")
        if role in stars:
            raise ShotInputError(f"{where}: {role} given twice")
        try:
            ra, dec, mag = (float(v) for v in content[1:])
        except ValueError:
            raise ShotInputError(f"{where}: ra, dec and mag must be numbers") from None
        if not 0.0 <= ra < 360.0:
            raise ShotInputError(f"{where}: ra {ra} out of range [0, 360) degrees")
        if not -90.0 <= dec <= 90.0:
            raise ShotInputError(f"{where}: dec {dec} out of range [-90, 90] degrees")
        stars[role] = Star(role, ra, dec, mag)
    missing = [r for r in REQUIRED_ROLES if r not in stars]
    if missing:
        raise ShotInputError(f"{path}: missing {', '.join(missing)}")
    return tuple(stars[r] for r in ROLES if r in stars)
