"""Running `herald ...` commands in tests: in this process against a server, or as a script."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from herald.cli import main
from support import server_environ


class Ran:
    """What one command did: its exit code and what it printed."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code = code
        self.out = out
        self.err = err

    def json(self) -> Any:
        return json.loads(self.out)


class Herald:
    """Runs `herald` commands against one server as one project."""

    def __init__(self, url: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.url = url
        self.project = f"p-{uuid.uuid4().hex[:12]}"
        self._capsys = capsys

    def __call__(self, *argv: str, server: bool = True) -> Ran:
        """Run `herald ARGV --url URL --project P` in this process."""
        where = ["--url", self.url, "--project", self.project] if server else []
        self._capsys.readouterr()
        try:
            code = main([*argv, *where])
        except SystemExit as exit:
            code = int(exit.code or 0)
        printed = self._capsys.readouterr()
        return Ran(code, printed.out, printed.err)


def run_herald(*argv: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Ran:
    """Run `python -m herald ARGV` as a script would, with only these HERALD_* variables."""
    result = subprocess.run(
        [sys.executable, "-m", "herald", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**server_environ(), **(env or {})},
    )
    return Ran(result.returncode, result.stdout, result.stderr)
