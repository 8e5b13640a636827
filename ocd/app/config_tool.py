"""``ocd config copy`` and ``ocd config show``: the configuration files as a user sees them
(``ocd config send`` is a command to the main loop: :mod:`ocd.app.commander`)."""

from __future__ import annotations

import shutil
from pathlib import Path

from ocd.config import COMPANION_NAMES, MASTER_NAME, Config, static_file
from ocd.errors import UsageError
from ocd.obsnum import choose_backend


def show_config(cfg: Config) -> int:
    """The merged configuration with the origin of every value, passwords masked, and which
    observation-number backend ``[database] backend`` gives and why."""
    choice = choose_backend(cfg)
    note = f"observation numbers: {choice.name}, {choice.reason}"
    print(cfg.render(mask=True, notes={("database", "backend"): note}))
    return 0


def copy_files(directory: Path, force: bool) -> int:
    """Copy the master and companion files; refuse to overwrite any of them without force.
    Both refusals are usage errors (exit status 2): the command line names a wrong directory
    or lacks ``--force``."""
    if not directory.is_dir():
        raise UsageError(f"{directory}: no such directory")
    names = (MASTER_NAME, *COMPANION_NAMES)
    existing = [directory / name for name in names if (directory / name).exists()]
    if existing and not force:
        raise UsageError(f"{', '.join(map(str, existing))} already exist(s): use --force to "
                       "overwrite")
    for name in names:
        shutil.copyfile(static_file(name), directory / name)
        print(f"wrote {directory / name}")
    return 0
