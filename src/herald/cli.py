"""`herald serve`: the command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence

from herald import __version__
from herald.bench import cli as bench_cli
from herald.config import ConfigError, Settings, load_settings, redacted, settings_environ
from herald.storage.factory import open_store
from herald.transport.http.protocol import HeraldHttpProtocol


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="herald", description="Herald message queuing service.")
    parser.add_argument("--version", action="version", version=f"herald {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve the Zaqar v2 HTTP API",
        description="Serve the Zaqar v2 HTTP API. Every option can also be set as "
        "HERALD_<OPTION> in the environment or in the TOML file given by --config.",
    )
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default 8888)")
    serve.add_argument(
        "--store",
        help="storage URI (default sqlite:///herald-data/herald.sqlite3, relative to "
        "the working directory; sqlite:////abs/path for an absolute path)",
    )
    serve.add_argument("--config", help="TOML file with settings")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument(
        "--durability",
        choices=("full", "normal"),
        help="SQLite sync mode: full fsyncs every commit (default), normal may lose "
        "the last commits on power loss",
    )
    serve.add_argument("--log-level", choices=("critical", "error", "warning", "info", "debug"))
    bench_cli.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.command == "bench":
        return bench_cli.run(args)
    return 2


def serve(args: argparse.Namespace) -> int:
    # uvicorn drains in-flight requests on SIGTERM/SIGINT, then re-raises the
    # signal to the handler that was there before it; this one makes a
    # requested shutdown exit 0, also when it comes before uvicorn is up.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_quietly)
    try:
        settings = load_settings(
            args.config,
            overrides={
                "host": args.host,
                "port": args.port,
                "store": args.store,
                "workers": args.workers,
                "durability": args.durability,
                "log_level": args.log_level,
            },
            warn=lambda message: print(f"herald: {message}", file=sys.stderr),
        )
        asyncio.run(_check_store(settings))
    except (ConfigError, ValueError, OSError) as exc:
        print(f"herald: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        store = redacted(settings.store)
        print(f"herald: the store {store} cannot be opened: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    print(
        f"Herald {__version__} serving http://{settings.host}:{settings.port}/ "
        f"with store {redacted(settings.store)} (durability {settings.durability}, "
        f"{settings.workers} worker{'s' if settings.workers != 1 else ''})",
        flush=True,
    )
    options = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": False,
        # Herald never reads the client address; skip the middleware that sets it.
        "proxy_headers": False,
        "loop": "uvloop",
        "http": HeraldHttpProtocol,
        "lifespan": "on",
        "timeout_graceful_shutdown": 30,
    }
    if settings.workers > 1:
        # Workers are new processes: hand them the merged settings.
        os.environ.update(settings_environ(settings))
        os.environ.pop("HERALD_CONFIG", None)
        uvicorn.run(
            "herald.transport.http.app:app_from_environment",
            factory=True,
            workers=settings.workers,
            **options,  # type: ignore[arg-type]
        )
    else:
        from herald.transport.http.app import create_app

        uvicorn.run(create_app(settings), **options)  # type: ignore[arg-type]
    return 0


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(0)


async def _check_store(settings: Settings) -> None:
    """Open and close the store once, so a bad URI or an unreachable backend fails now."""
    store = open_store(settings.store, durability=settings.durability)
    await store.open()
    await store.close()


if __name__ == "__main__":
    raise SystemExit(main())
