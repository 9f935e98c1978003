"""Virtualenvs of pinned tools the tests run as separate programs (Keystone, tempest).

Each lives at the top of the repository (ignored by git) and is reused while
its marker file names the same pins; otherwise it is built afresh with pip.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

MARKER = "herald-built-for.txt"


class VenvUnavailable(RuntimeError):
    """A tool's virtualenv could not be built here."""


def build_venv(venv: Path, pins: list[str], what: str, timeout: float = 900) -> Path:
    """The virtualenv holding exactly these pins, built if missing or built for others."""
    wanted = " ".join(pins) + "\n"
    # Written last, so that a half-built virtualenv is never taken for a finished one.
    marker = venv / MARKER
    if marker.exists() and marker.read_text() == wanted:
        return venv
    python = getattr(sys, "_base_executable", sys.executable)
    steps = [
        [python, "-m", "venv", "--clear", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *pins],
    ]
    deadline = time.monotonic() + timeout
    for step in steps:
        try:
            done = subprocess.run(
                step,
                capture_output=True,
                text=True,
                timeout=max(1.0, deadline - time.monotonic()),
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise VenvUnavailable(f"building {what} timed out: {' '.join(step[1:])}") from exc
        if done.returncode != 0:
            raise VenvUnavailable(
                f"building {what} failed ({' '.join(step[-len(pins) - 2 :])}): "
                f"{done.stderr[-2000:]}"
            )
    marker.write_text(wanted)
    return venv
