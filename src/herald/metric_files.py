"""The directory where processes that count write their samples for one scrape to add up.

Apart from the metrics module because prometheus-client chooses, as it is first
imported, whether samples go to files: the directory must be named before that.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def fresh_directory(path: str) -> str:
    """The per-run directory of multiprocess files, emptied (or made) now: files of an
    earlier run would otherwise add their counts to this one's."""
    if not path:
        return tempfile.mkdtemp(prefix="herald-metrics-")
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for child in directory.iterdir():
        if child.suffix in (".db", ".json") and child.is_file():
            child.unlink()
    return str(directory)
