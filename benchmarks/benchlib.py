"""Helpers the benchmark scripts share: servers in subprocesses, wrk runs, medians, tables."""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / ".work"
RESULTS = HERE / "results"
WRK_SCRIPTS = HERE / "wrk"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def say(text: str) -> None:
    """Progress on stderr, so that stdout stays the report."""
    print(text, file=sys.stderr, flush=True)


class Server:
    """A server under test in its own process group, logging to a file under .work/."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        port: int,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        ready_path: str = "/",
        preexec: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd or WORK
        self.ready_path = ready_path
        self.log = WORK / f"{name}.log"
        # Runs in the child before it execs, e.g. to set its resource limits.
        self.preexec = preexec
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> Server:
        WORK.mkdir(parents=True, exist_ok=True)
        self.cwd.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=self.preexec,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.log_tail()}")
            if http_status(self.url + self.ready_path) is not None:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {timeout:g} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM the server's process group (workers included), SIGKILL if it lingers."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        except ProcessLookupError:
            pass

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def herald_server(
    name: str,
    store: str,
    *,
    workers: int = 1,
    durability: str | None = None,
    program: Sequence[str] = (sys.executable, "-m", "herald"),
    env: dict[str, str] | None = None,
    preexec: Callable[[], None] | None = None,
) -> Server:
    """`herald serve` on `store` on a free port, working in .work/<name>/; not started yet.

    `program` is what takes `serve` and its options, `herald` itself unless a benchmark wraps it.
    """
    directory = WORK / name
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [*program, "serve", "--port", str(port), "--store", store]
    command += ["--workers", str(workers), "--log-level", "warning"]
    if durability:
        command += ["--durability", durability]
    return Server(name, command, port, cwd=directory, env=env, preexec=preexec)


def herald_sqlite(
    name: str,
    *,
    workers: int = 1,
    durability: str = "full",
    program: Sequence[str] = (sys.executable, "-m", "herald"),
    env: dict[str, str] | None = None,
    preexec: Callable[[], None] | None = None,
) -> Server:
    """`herald serve` on a fresh SQLite file in .work/<name>/ on a free port, not started yet."""
    remove_work(name)
    store = f"sqlite:///{WORK / name / 'herald.sqlite3'}"
    return herald_server(
        name,
        store,
        workers=workers,
        durability=durability,
        program=program,
        env=env,
        preexec=preexec,
    )


def postgres_admin(base: str, *statements: str) -> str | None:
    """Run statements on the server's `postgres` database; the error, or None."""
    try:
        import psycopg
    except ImportError:
        psql = shutil.which("psql")
        if psql is None:
            return "neither psycopg nor psql is installed"
        for statement in statements:
            done = subprocess.run(
                [psql, f"{base}/postgres", "-q", "-c", statement],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode:
                return done.stderr.strip()
        return None
    try:
        with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=5) as conn:
            for statement in statements:
                conn.execute(statement)
    except psycopg.Error as exc:
        return str(exc)
    return None


def fresh_postgres_database(base: str, name: str) -> str | None:
    """Drop and create a database for a benchmark; its URI, or None if PostgreSQL says no."""
    error = postgres_admin(base, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    if error:
        say(f"PostgreSQL at {base} refused to create {name}: {error}")
        return None
    return f"{base}/{name}"


def with_query(url: str, **params: str) -> str:
    """`url` with `params` added to its query string."""
    return url + ("&" if "?" in url else "?") + urllib.parse.urlencode(params)


def drop_redis_prefix(url: str, prefix: str) -> None:
    """Delete every key of a Herald store prefix from the Redis at `url`."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        batch = []
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            batch.append(key)
            if len(batch) == 1000:
                client.delete(*batch)
                batch = []
        if batch:
            client.delete(*batch)
    finally:
        client.close()


def remove_work(name: str) -> None:
    """Delete .work/<name>/, e.g. a server's SQLite files once it has stopped."""
    shutil.rmtree(WORK / name, ignore_errors=True)


def api_json(
    base: str, method: str, path: str, body: Any = None, project: str = "herald-bench"
) -> tuple[int, Any]:
    """One Zaqar v2 API call with the headers the benchmarks send; status and decoded JSON."""
    request = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Client-ID": "3c5a6d8e-2b1f-4e7a-9c0d-6f4b2a1e8d35",
            "X-Project-ID": project,
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            status, data = int(answer.status), answer.read()
    except urllib.error.HTTPError as exc:
        status, data = int(exc.code), exc.read()
    return status, json.loads(data) if data.strip() else None


def memory_mib(pid: int) -> tuple[float, float]:
    """A process's resident set and its peak so far (VmRSS, VmHWM), in MiB."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process so far (/proc/PID/stat)."""
    # The command name in parentheses may hold spaces: split after it.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http_status(url: str) -> int | None:
    """The status a GET answers, or None when nothing listens."""
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_measured(
    command: Sequence[str], env: dict[str, str] | None = None, timeout: float = 120
) -> tuple[str, float, float]:
    """Run a command to its end; its stdout, wall seconds and CPU seconds (it and its children)."""
    cpu_before = children_cpu()
    began = time.monotonic()
    done = subprocess.run(
        list(command),
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    wall = time.monotonic() - began
    cpu = children_cpu() - cpu_before
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout, wall, cpu


def require_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    return wrk


def run_wrk(
    url: str,
    script: str,
    *,
    duration: float,
    connections: int = 32,
    threads: int = 1,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One wrk run with a Lua script of wrk/; the script's result line plus wrk's CPU seconds."""
    command = [
        require_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPTS / script),
        url,
    ]
    stdout, wall, cpu = run_measured(command, env, timeout=duration + 60)
    match = re.search(r"^WRK_RESULT (\{.*\})$", stdout, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{stdout[-2000:]}")
    result: dict[str, Any] = json.loads(match.group(1))
    result["client_cpu_s"] = round(cpu, 3)
    result["wall_s"] = round(wall, 3)
    return result


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def machine() -> dict[str, Any]:
    """What the numbers were taken on, including how busy the machine was."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        first = Path("/proc/meminfo").read_text().splitlines()[0]
        memory = f"{int(first.split()[1]) / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    wrk = shutil.which("wrk")
    wrk_version = ""
    if wrk:
        answer = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False)
        wrk_version = (answer.stdout or answer.stderr).splitlines()[0] if answer else ""
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": wrk_version,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def add_wrk_options(parser: Any, *, rounds: int, queues: bool = True) -> None:
    """The options every wrk-driven script takes, with the defaults they share."""
    add = parser.add_argument
    add("--rounds", type=int, default=rounds)
    add("--duration", type=float, default=5.0, help="seconds per measured wrk run")
    add("--warmup", type=float, default=1.0, help="seconds of unmeasured wrk before each run")
    add("--connections", type=int, default=32)
    if queues:
        add("--queues", type=int, default=4)
    add("--message-size", type=int, default=200)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(stem: str, document: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """Write results/<stem>.json and .md; their paths."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS / f"{stem}.json"
    md_path = RESULTS / f"{stem}.md"
    json_path.write_text(json.dumps(document, indent=2) + "\n")
    md_path.write_text(markdown + "\n")
    return json_path, md_path


def timestamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")
