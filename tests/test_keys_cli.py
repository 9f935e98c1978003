"""`herald keys create|list|revoke`: what each prints, and its exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from herald.auth.keys import digest
from herald.cli import main
from support import server_environ

EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE = 0, 1, 2


@pytest.fixture
def store_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh SQLite store, and an environment with no HERALD_* settings of its own."""
    for name in [name for name in os.environ if name.startswith("HERALD_")]:
        monkeypatch.delenv(name)
    yield f"sqlite:///{tmp_path / 'keys.sqlite3'}"


def keys(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run `herald keys ...` in this process: the exit code, stdout and stderr."""
    try:
        code = main(["keys", *argv])
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def created(output: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in output.splitlines())


def test_create_prints_the_key_once_and_list_never_does(
    store_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = keys(
        capsys, "create", "--project", "demo", "--roles", "Admin, member", "--store", store_uri
    )
    assert code == EXIT_OK, err
    fields = created(out)
    key = fields["key"]
    assert fields["id"] == key.split(".")[0]
    assert fields["project"] == "demo" and fields["roles"] == "admin,member"
    assert fields["expires"] == "never" and fields["status"] == "active"
    assert out.count(key.split(".")[1]) == 1
    assert "shown only this once" in err and key not in err

    code, out, err = keys(capsys, "list", "--store", store_uri)
    assert code == EXIT_OK, err
    header, row = out.splitlines()
    assert header.split() == ["ID", "PROJECT", "ROLES", "CREATED", "EXPIRES", "STATUS"]
    assert row.split()[:3] == [fields["id"], "demo", "admin,member"]
    assert row.split()[-1] == "active"
    assert key.split(".")[1] not in out + err and digest(key) not in out + err


def test_list_by_project_and_the_status_of_each_key(
    store_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids: dict[str, list[str]] = {}
    for project in ("a", "b", "a"):
        code, out, _ = keys(capsys, "create", "--project", project, "--store", store_uri)
        assert code == EXIT_OK
        ids.setdefault(project, []).append(created(out)["id"])
    code, out, _ = keys(capsys, "revoke", ids["a"][0], "--store", store_uri)
    assert code == EXIT_OK and f"revoked key {ids['a'][0]} of project a" in out
    code, out, _ = keys(capsys, "list", "--project", "a", "--store", store_uri)
    rows = out.splitlines()[1:]
    assert [row.split()[0] for row in rows] == ids["a"]
    assert rows[0].split()[-2] == "revoked" and rows[1].split()[-1] == "active"
    code, out, _ = keys(capsys, "list", "--project", "nobody", "--store", store_uri)
    assert code == EXIT_OK and len(out.splitlines()) == 1


def test_expiry_in_seconds_or_as_a_date(store_uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = time.time()
    code, out, _ = keys(capsys, "create", "--project", "p", "--expires", "90", "--store", store_uri)
    assert code == EXIT_OK
    expires = created(out)["expires"]
    assert before + 89 <= datetime.fromisoformat(expires).timestamp() <= time.time() + 91
    code, out, _ = keys(
        capsys, "create", "--project", "p", "--expires", "2999-01-02", "--store", store_uri
    )
    assert code == EXIT_OK and created(out)["expires"] == "2999-01-02T00:00:00Z"
    code, out, _ = keys(
        capsys,
        "create",
        "--project",
        "p",
        "--expires",
        "2999-01-02T03:04:05+02:00",
        "--store",
        store_uri,
    )
    assert code == EXIT_OK and created(out)["expires"] == "2999-01-02T01:04:05Z"


def test_revoking_twice_is_fine_and_an_unknown_key_is_exit_1(
    store_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = keys(capsys, "create", "--project", "p", "--store", store_uri)
    fields = created(out)
    code, out, _ = keys(capsys, "revoke", fields["key"], "--store", store_uri)
    assert code == EXIT_OK and f"revoked key {fields['id']}" in out
    assert fields["key"] not in out
    code, out, _ = keys(capsys, "revoke", fields["id"], "--store", store_uri)
    assert code == EXIT_OK and "already revoked" in out
    code, out, err = keys(capsys, "revoke", "0123456789abcdef", "--store", store_uri)
    assert code == EXIT_NOT_FOUND and "no API key" in err and out == ""


@pytest.mark.parametrize(
    "argv",
    [
        ["create"],
        ["create", "--project", ""],
        ["create", "--project", "p\x01"],
        ["create", "--project", "p" * 257],
        ["create", "--project", "p", "--expires", "0"],
        ["create", "--project", "p", "--expires", "-5"],
        ["create", "--project", "p", "--expires", "tomorrow"],
        ["create", "--project", "p", "--expires", "2001-01-01"],
        ["create", "--project", "p", "--roles", "ok,bad\x07"],
        ["list", "--project", ""],
        ["revoke"],
        ["rotate"],
        [],
    ],
)
def test_bad_usage_is_exit_2_and_stores_nothing(
    argv: list[str],
    store_uri: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HERALD_STORE", store_uri)
    code, out, err = keys(capsys, *argv)
    assert code == EXIT_USAGE, (out, err)
    assert out == "" and err
    code, out, _ = keys(capsys, "list")
    assert len(out.splitlines()) == 1


@pytest.mark.parametrize("store", ["mysql://x@y/z", "sqlite://relative", "redis://127.0.0.1:1/0"])
def test_a_bad_or_unreachable_store_is_exit_2(
    store: str, store_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = keys(capsys, "create", "--project", "p", "--store", store)
    assert code == EXIT_USAGE and out == "" and "store" in err


def test_the_store_comes_from_the_settings_as_for_serve(
    tmp_path: Path,
    store_uri: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "herald.toml"
    from_file = f"sqlite:///{tmp_path / 'from-file.sqlite3'}"
    config.write_text(f'store = "{from_file}"\nauth = "apikey"\n')
    code, out, err = keys(capsys, "create", "--project", "p", "--config", str(config))
    assert code == EXIT_OK and "note" not in err
    key_id = created(out)["id"]
    assert key_id in keys(capsys, "list", "--store", from_file)[1]
    monkeypatch.setenv("HERALD_STORE", from_file)
    assert key_id in keys(capsys, "list")[1]
    assert key_id not in keys(capsys, "list", "--store", store_uri)[1]
    config.write_text("colour = 'blue'\n")
    assert keys(capsys, "list", "--config", str(config))[0] == EXIT_USAGE


def test_the_command_line_exit_codes(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'cli.sqlite3'}"

    def herald(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "herald", "keys", *argv, "--store", store],
            capture_output=True,
            text=True,
            timeout=60,
            env=server_environ(),
            cwd=tmp_path,
        )

    made = herald("create", "--project", "p")
    assert made.returncode == EXIT_OK, made.stderr
    key_id = created(made.stdout)["id"]
    assert herald("list").returncode == EXIT_OK
    assert herald("revoke", key_id).returncode == EXIT_OK
    assert herald("revoke", "ffffffffffffffff").returncode == EXIT_NOT_FOUND
    assert herald("create", "--project", "p", "--expires", "soon").returncode == EXIT_USAGE
