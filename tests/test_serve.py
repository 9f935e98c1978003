"""`herald serve` and its settings: flags, environment, TOML file, start-up errors."""

from __future__ import annotations

import contextlib
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

import backends
from herald.config import ConfigError, load_settings
from herald.storage.kit import redacted
from support import ServerProcess, free_port, headers, server_environ


@contextlib.contextmanager
def serving(
    tmp_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
    preexec: Callable[[], None] | None = None,
) -> Iterator[IO[str]]:
    """`herald serve` with these arguments in a subprocess; its output, line by line.

    On leaving, the server is sent SIGTERM and must exit 0."""
    process = subprocess.Popen(
        [sys.executable, "-m", "herald", "serve", *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**server_environ(), **(env or {})},
        preexec_fn=preexec,
    )
    try:
        assert process.stdout is not None
        yield process.stdout
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0


def test_settings_layers_in_order(tmp_path: Path) -> None:
    config = tmp_path / "herald.toml"
    config.write_text("port = 9000\nworkers = 3\n[limits]\nmax_message_ttl = 7200\n")
    environ = {"HERALD_WORKERS": "4", "HERALD_DEFAULT_CLAIM_TTL": "120"}
    settings = load_settings(str(config), environ, overrides={"workers": 5, "host": None})
    assert settings.port == 9000
    assert settings.workers == 5
    assert settings.host == "127.0.0.1"
    assert settings.limits.max_message_ttl == 7200
    assert settings.limits.default_claim_ttl == 120
    assert load_settings(None, {"HERALD_CONFIG": str(config)}).workers == 3


@pytest.mark.parametrize(
    ("environ", "text"),
    [
        ({"HERALD_PORT": "eighty"}, "invalid setting"),
        ({"HERALD_DURABILITY": "sometimes"}, "invalid setting"),
    ],
)
def test_bad_settings_are_named(environ: dict[str, str], text: str) -> None:
    with pytest.raises(ConfigError, match=text):
        load_settings(None, environ)


def test_passwords_in_store_uris_are_not_printed() -> None:
    assert redacted("postgresql://app:s3cret@db:5432/q") == "postgresql://app:***@db:5432/q"
    assert redacted("redis://127.0.0.1:6379/0?prefix=x") == "redis://127.0.0.1:6379/0?prefix=x"


def test_overrides_name_a_tables_keys_as_the_environment_does() -> None:
    settings = load_settings(None, {}, overrides={"signed_url_secret_key": "k", "port": 1})
    assert settings.signed_url.secret_key == "k" and settings.port == 1
    assert load_settings(None, {"HERALD_SIGNED_URL_SECRET_KEY": "k"}).signed_url.secret_key == "k"


def test_unknown_environment_setting_is_only_a_warning() -> None:
    with pytest.warns(UserWarning, match="HERALD_PORTT"):
        assert load_settings(None, {"HERALD_PORTT": "1"}).port == 8888


def test_unknown_setting_in_the_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "herald.toml"
    config.write_text("colour = 'blue'\n")
    with pytest.raises(ConfigError):
        load_settings(str(config), {})


@pytest.mark.parametrize(
    "store", ["sqlite://relative-without-slash", "mysql://x@y/z", "sqlite:///"]
)
def test_a_bad_store_uri_stops_start_up_with_a_message(store: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "herald", "serve", "--store", store, "--port", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=server_environ(),
    )
    assert result.returncode == 2
    assert "herald:" in result.stderr and "store" in result.stderr.lower()


def test_default_store_is_a_local_sqlite_file(tmp_path: Path) -> None:
    port = free_port()
    with serving(tmp_path, "--port", str(port)) as output:
        banner = output.readline()
        assert f"http://127.0.0.1:{port}/" in banner
        assert "sqlite:///herald-data/herald.sqlite3" in banner
    assert (tmp_path / "herald-data" / "herald.sqlite3").exists()


def test_several_workers_serve_one_store(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    server = ServerProcess(store, tmp_path, "--workers", "2").start()
    try:
        with httpx.Client(base_url=server.url, headers=headers("w"), timeout=30) as client:
            for i in range(100):
                body = {"messages": [{"body": i}]}
                assert client.post("/v2/queues/q/messages", json=body).status_code == 201
            stats = client.get("/v2/queues/q/stats").json()["messages"]
            assert stats["total"] == 100
    finally:
        assert server.stop() == 0


def run_serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run `herald serve` to its end (it must fail at start-up); its exit code and output."""
    result = subprocess.run(
        [sys.executable, "-m", "herald", "serve", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**server_environ(), **(env or {})},
    )
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--port", "99999"], "port must be from 0 to 65535"),
        (["--port", "-1"], "port must be from 0 to 65535"),
        (["--workers", "0"], "workers must be at least 1"),
        (["--workers", "-1"], "workers must be at least 1"),
        (["--delivery-workers", "-1"], "delivery_workers must be from 0 to 16, not -1"),
        (["--delivery-workers", "17"], "delivery_workers must be from 0 to 16, not 17"),
    ],
)
def test_impossible_flags_stop_start_up_with_one_line(
    tmp_path: Path, args: list[str], named: str
) -> None:
    code, output = run_serve(tmp_path, *args)
    assert code == 2
    assert output.strip().splitlines() == [output.strip()]
    assert named in output and "serving" not in output


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ("max_mesage_ttl = 10", "unknown field `max_mesage_ttl`"),
        ("max_message_ttl = 10", "max_message_ttl (10)"),
        ("default_claim_ttl = 50000", "default_claim_ttl (50000)"),
        ("max_messages_per_page = 0", "max_messages_per_page must be at least 1"),
        ("max_messages_post_size = -5", "max_messages_post_size must be at least 1"),
        ("default_message_delay = -1", "default_message_delay (-1)"),
        ("max_wait = -1", "max_wait must be from 0 to 300, not -1"),
        ("max_wait = 301", "max_wait must be from 0 to 300, not 301"),
        ("max_wait = 'long'", "Expected `int`"),
    ],
)
def test_impossible_limits_stop_start_up_with_one_line(
    tmp_path: Path, table: str, named: str
) -> None:
    config = tmp_path / "herald.toml"
    config.write_text(f"[limits]\n{table}\n")
    code, output = run_serve(tmp_path, "--config", str(config), "--port", "0")
    assert code == 2
    assert len(output.strip().splitlines()) == 1, output
    assert named in output


def test_limits_at_their_edges_are_accepted() -> None:
    environ = {
        "HERALD_MIN_MESSAGE_TTL": "1",
        "HERALD_DEFAULT_MESSAGE_TTL": "1",
        "HERALD_MAX_MESSAGE_TTL": "1",
        "HERALD_MAX_MESSAGES_PER_PAGE": "1",
    }
    assert load_settings(None, environ).limits.max_message_ttl == 1
    for edge in ("0", "300"):
        assert load_settings(None, {"HERALD_MAX_WAIT": edge}).limits.max_wait == int(edge)


def test_port_zero_announces_the_port_it_listens_on(tmp_path: Path) -> None:
    with serving(tmp_path, "--port", "0") as output:
        banner = output.readline()
        url = banner.split(" serving ")[1].split()[0]
        assert not url.endswith(":0/")
        deadline = time.time() + 20
        while True:
            try:
                assert httpx.get(url, timeout=1).status_code == 300
                break
            except httpx.TransportError:
                assert time.time() < deadline, banner
                time.sleep(0.05)


def test_a_port_in_use_is_said_before_any_banner(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, output = run_serve(tmp_path, "--port", str(port))
    assert code == 2
    assert "serving" not in output
    assert f"cannot listen on 127.0.0.1:{port}" in output


def test_the_banner_tells_the_durability_a_redis_store_has(tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        uri = stack.enter_context(contextlib.contextmanager(backends.redis_store_uri)("banner"))
        with serving(tmp_path, "--port", "0", "--store", uri) as output:
            banner = next(line for line in output if " serving " in line)
            assert "durability full" not in banner
            assert "durability as the backend server is configured" in banner


def test_start_up_raises_the_open_files_limit_to_the_hard_limit(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lower = min(soft, hard, 256)
    with serving(
        tmp_path,
        "--port",
        "0",
        preexec=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (lower, hard)),
    ) as output:
        lines = [output.readline(), output.readline()]
        said = f"open files limit raised from {lower} to the hard limit {hard}"
        assert said in lines[1] or (lower == hard and "the hard limit" in lines[1]), lines


def test_the_banner_says_what_noauth_trusts(tmp_path: Path) -> None:
    with serving(tmp_path, "--port", "0") as output:
        banner = output.readline()
        assert "auth noauth" in banner and "trusted network only" in banner


def test_start_up_warns_when_the_open_files_limit_is_below_the_connection_cap(
    tmp_path: Path,
) -> None:
    with serving(
        tmp_path,
        "--port",
        "0",
        env={"HERALD_MAX_CONNECTIONS": "1000"},
        preexec=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (512, 512)),
    ) as output:
        lines = [output.readline() for _ in range(3)]
        assert "max_connections 1000 is more than the open-files limit 512" in lines[2], lines
