"""The children a command starts (``ocd rehearse``'s processes) run this copy of OCD."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import ocd
from ocd.shell.children import child_env


def test_a_child_imports_this_copy_of_the_package(tmp_path: Path):
    env = child_env()
    first = Path(env["PYTHONPATH"].split(os.pathsep)[0])
    assert (first / "ocd" / "__init__.py").resolve() == Path(ocd.__file__).resolve()
    done = subprocess.run([sys.executable, "-c", "import ocd; print(ocd.__file__)"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert Path(done.stdout.strip()).resolve() == Path(ocd.__file__).resolve(), done.stderr
