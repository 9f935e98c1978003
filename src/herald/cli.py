"""`herald serve`: the command line."""

from __future__ import annotations

import argparse
import asyncio
import logging.config
import os
import resource
import shutil
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any

from herald import __version__
from herald.admin import api_cli, store_cli
from herald.auth import keys_cli
from herald.auth.policy import load_policy
from herald.bench import cli as bench_cli
from herald.config import ConfigError, Settings, load_settings, settings_environ
from herald.logs import log_config
from herald.storage.factory import open_store
from herald.storage.kit import redacted
from herald.tls import check_tls_files
from herald.transport.http.protocol import HeraldHttpProtocol
from herald.transport.websocket.protocol import HeraldWebSocketProtocol


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="herald", description="Herald message queuing service.")
    parser.add_argument("--version", action="version", version=f"herald {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serving = commands.add_parser(
        "serve",
        help="serve the Zaqar v2 HTTP API",
        description="Serve the Zaqar v2 HTTP API. Every option can also be set as "
        "HERALD_<OPTION> in the environment or in the TOML file given by --config.",
    )
    serving.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serving.add_argument("--port", type=int, help="port to bind (default 8888)")
    serving.add_argument(
        "--store",
        help="storage URI (default sqlite:///herald-data/herald.sqlite3, relative to "
        "the working directory; sqlite:////abs/path for an absolute path)",
    )
    serving.add_argument("--config", help="TOML file with settings")
    serving.add_argument("--workers", type=int, help="worker processes (default 1)")
    serving.add_argument(
        "--delivery-workers",
        type=int,
        help="processes that only deliver notifications (default 0: the workers deliver)",
    )
    serving.add_argument(
        "--durability",
        choices=("full", "normal"),
        help="SQLite sync mode: full fsyncs every commit (default), normal may lose "
        "the last commits on power loss",
    )
    serving.add_argument("--log-level", choices=("critical", "error", "warning", "info", "debug"))
    serving.add_argument(
        "--console", action="store_true", default=None, help="serve the web console at /console"
    )
    serving.add_argument(
        "--log-format",
        choices=("human", "json"),
        help="log lines as timestamped text (default) or as JSON objects, one a line",
    )
    serving.add_argument(
        "--metrics-port", type=int, help="serve Prometheus /metrics on this port (default 0: off)"
    )
    serving.add_argument("--ssl-certfile", help="PEM certificate (chain) to serve HTTPS with")
    serving.add_argument("--ssl-keyfile", help="PEM private key of --ssl-certfile, unencrypted")
    serving.set_defaults(run=serve)
    bench_cli.add_parser(commands).set_defaults(run=bench_cli.run)
    keys_cli.add_parser(commands).set_defaults(run=keys_cli.run)
    store_cli.add_parser(commands)
    api_cli.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


def serve(args: argparse.Namespace) -> int:
    # uvicorn drains in-flight requests on SIGTERM/SIGINT while it serves; before
    # it is up, a stop is only noted (raising from a signal handler can land in
    # code that swallows the exception) and honoured before serving starts.
    stop = _StopRequest()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop.note)
    try:
        settings = load_settings(
            args.config,
            overrides={
                "host": args.host,
                "port": args.port,
                "store": args.store,
                "workers": args.workers,
                "delivery_workers": args.delivery_workers,
                "durability": args.durability,
                "log_level": args.log_level,
                "console": args.console,
                "log_format": args.log_format,
                "metrics_port": args.metrics_port,
                "ssl_certfile": args.ssl_certfile,
                "ssl_keyfile": args.ssl_keyfile,
            },
            warn=lambda message: print(f"herald: {message}", file=sys.stderr),
        )
        # Lines of the checks below (a store's warnings) take the configured format too.
        logging.config.dictConfig(log_config(settings.log_format, settings.log_level))
        load_policy(settings.policy_file)
        if settings.ssl_certfile:
            check_tls_files(settings.ssl_certfile, settings.ssl_keyfile)
        durability = asyncio.run(_check_store(settings))
    except (ConfigError, ValueError, OSError) as exc:
        print(f"herald: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        store = redacted(settings.store)
        print(f"herald: the store {store} cannot be opened: {exc}", file=sys.stderr)
        return 2
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    options = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        # Herald's own formats for uvicorn's lines too; Herald writes the access log.
        "log_config": log_config(settings.log_format, settings.log_level),
        "access_log": False,
        # Herald never reads the client address; skip the middleware that sets it.
        "proxy_headers": False,
        "loop": "uvloop",
        "http": HeraldHttpProtocol,
        "ws": HeraldWebSocketProtocol,
        "lifespan": "on",
        "timeout_graceful_shutdown": 30,
        "timeout_keep_alive": settings.keep_alive_timeout,
    }
    if settings.ssl_certfile:
        options.update(ssl_certfile=settings.ssl_certfile, ssl_keyfile=settings.ssl_keyfile)
    # Named before anything imports prometheus-client, which reads it then.
    metrics_dir = _metric_files(settings)
    if settings.workers > 1:
        # Workers are new processes: hand them the merged settings.
        os.environ.update(settings_environ(settings))
        os.environ.pop("HERALD_CONFIG", None)
        config = uvicorn.Config(
            "herald.transport.http.app:app_from_environment",
            factory=True,
            workers=settings.workers,
            **options,  # type: ignore[arg-type]
        )
    else:
        from herald.transport.http.app import create_app

        config = uvicorn.Config(create_app(settings), **options)  # type: ignore[arg-type]
        config.load_app()
    try:
        sock = listen(settings.host, settings.port)
    except OSError as exc:
        _remove_metric_files(settings, metrics_dir)
        print(
            f"herald: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    port = sock.getsockname()[1]
    if settings.metrics_port:
        try:
            _serve_metrics(settings, metrics_dir)
        except OSError as exc:
            sock.close()
            _remove_metric_files(settings, metrics_dir)
            print(
                f"herald: cannot serve metrics on {settings.metrics_host}:"
                f"{settings.metrics_port}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return 2
    workers = f"{settings.workers} worker{'s' if settings.workers != 1 else ''}"
    if settings.delivery_workers:
        count = settings.delivery_workers
        workers += f", {count} delivery worker{'s' if count != 1 else ''}"
    scheme = "https" if settings.ssl_certfile else "http"
    print(
        f"Herald {__version__} serving {scheme}://{_host_in_url(settings.host)}:{port}/ "
        f"with store {redacted(settings.store)} ({durability}, {workers}), "
        f"auth {AUTH_NOTES[settings.auth]}",
        flush=True,
    )
    if settings.console:
        print(f"herald: web console at {scheme}://{_host_in_url(settings.host)}:{port}/console")
    if settings.metrics_port:
        print(
            f"herald: metrics on http://{_host_in_url(settings.metrics_host)}:"
            f"{settings.metrics_port}/metrics",
            flush=True,
        )
    print(f"herald: {raise_open_files_limit()}", flush=True)
    files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if settings.max_connections + FILES_BESIDES_CONNECTIONS > files:
        print(
            f"herald: warning: max_connections {settings.max_connections} is more than the "
            f"open-files limit {files} allows; past about "
            f"{max(files - FILES_BESIDES_CONNECTIONS, 0)} connections the kernel refuses "
            "new ones before Herald can answer them",
            flush=True,
        )
    server = stop.server = uvicorn.Server(config)
    # From here on the supervisor's handlers queue the signals for its own loop.
    supervisor = Multiprocess(config, sockets=[sock]) if settings.workers > 1 else None
    delivering = None
    try:
        if stop.requested:
            return 0
        if settings.delivery_workers:
            from herald.delivery_workers import DeliveryWorkers

            delivering = DeliveryWorkers(settings_environ(settings), settings.delivery_workers)
            try:
                delivering.start()
            except OSError as exc:
                print(f"herald: cannot start the delivery workers: {exc}", file=sys.stderr)
                return 2
        if supervisor is not None:
            supervisor.run()
            return 0
        server.run(sockets=[sock])
        return 0 if server.started else 2
    finally:
        if delivering is not None:
            delivering.stop()
        _remove_metric_files(settings, metrics_dir)


def _metric_files(settings: Settings) -> str | None:
    """With metrics and more than one process counting, the fresh directory where each
    writes its samples for this process to add up; otherwise None."""
    if not settings.metrics_port or (settings.workers == 1 and not settings.delivery_workers):
        return None
    from herald.metric_files import MULTIPROCESS_ENV, fresh_directory

    if settings.workers > 1:
        # This process only supervises: loaded before the directory is named, its own
        # samples (a store never opened, say) stay in memory, out of the workers' sums.
        import herald.metrics  # noqa: F401
    directory = fresh_directory(settings.metrics_dir)
    # Read by prometheus-client in each process as it is first imported there.
    os.environ[MULTIPROCESS_ENV] = directory
    return directory


def _remove_metric_files(settings: Settings, directory: str | None) -> None:
    if directory is not None and not settings.metrics_dir:
        shutil.rmtree(directory, ignore_errors=True)


def _serve_metrics(settings: Settings, directory: str | None) -> None:
    """Serve /metrics from a thread of this process: its own samples, or with
    `directory` those every process wrote there, added up."""
    from herald import metrics

    registry = metrics.scrape_registry(
        directory, settings.metrics_queues, serves_here=settings.workers == 1
    )
    metrics.serve_metrics(settings.metrics_host, settings.metrics_port, registry)


AUTH_NOTES = {
    "noauth": "noauth (trusts X-Project-ID: for a trusted network only)",
    "keystone": "keystone (X-Auth-Token validated by Keystone; X-Project-ID as sent ignored)",
    "apikey": "apikey (project and roles from each key's record in the store)",
}


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to the address, inheritable by worker processes."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


FILES_BESIDES_CONNECTIONS = 64
"""Files a process keeps open besides its connections: store, logs, libraries."""


def raise_open_files_limit() -> str:
    """Let the process open as many files as the hard limit allows; what the limits are."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard:
        return f"open files limit {soft} (the hard limit)"
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:
        return f"open files limit {soft}; raising it to the hard limit {hard} failed: {exc}"
    return f"open files limit raised from {soft} to the hard limit {hard}"


def _host_in_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class _StopRequest:
    """Whether SIGTERM or SIGINT came; uvicorn hands the signal back here once it is done."""

    def __init__(self) -> None:
        self.requested = False
        self.server: Any = None

    def note(self, signum: int, frame: object) -> None:
        self.requested = True
        if self.server is not None:
            # A stop between the last look and uvicorn's own handlers still ends serving.
            self.server.should_exit = True


async def _check_store(settings: Settings) -> str:
    """Open and close the store once, so a bad URI or an unreachable backend fails now;
    what a stored message's durability rests on, for the banner."""
    store = open_store(settings.store, durability=settings.durability)
    await store.open()
    await store.close()
    if store.durability is None:
        return "durability as the backend server is configured"
    return f"durability {store.durability}"


if __name__ == "__main__":
    raise SystemExit(main())
