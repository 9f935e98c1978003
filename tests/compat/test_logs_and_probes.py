"""Log lines, request ids and the probes of a real `herald serve`, read from its stderr."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import backends
from support import ServerProcess, failed_start, headers
from tcp_proxy import TcpProxy
from ws_support import Frames, status_of

HUMAN_LINE = re.compile(
    r"(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (?P<level>[A-Z]+) (?P<logger>\S+) "
    r"\[(?P<request_id>\S+)\] (?P<message>.*)"
)
GENERATED_ID = re.compile(r"req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def sqlite_store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'herald.sqlite3'}"


def serve(
    store: str, workdir: Path, *args: str, env: dict[str, str] | None = None
) -> ServerProcess:
    return ServerProcess(store, workdir, *args, env=env, stderr_apart=True).start()


def wait_for_lines(
    server: ServerProcess, wanted: Callable[[list[str]], bool], within: float = 15
) -> list[str]:
    """The server's stderr lines once `wanted` holds of them (log lines come a moment
    after the response they are about)."""
    deadline = time.monotonic() + within
    while True:
        lines = server.errors.read_text().splitlines()
        if wanted(lines):
            return lines
        if time.monotonic() > deadline:
            pytest.fail("the log never had the lines expected:\n" + "\n".join(lines))
        time.sleep(0.05)


def post_one(url: str, project_headers: dict[str, str], **extra: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v2/queues/logged/messages",
        json={"messages": [{"body": 1}]},
        headers={**project_headers, **extra},
        timeout=10,
    )


def test_human_lines_are_timestamped_and_carry_the_request_id(tmp_path: Path) -> None:
    server = serve(sqlite_store(tmp_path), tmp_path)
    try:
        sent = headers()
        answer = post_one(server.url, sent, **{"X-Request-ID": "trace-42"})
        assert answer.status_code == 201
        assert answer.headers["x-request-id"] == "trace-42"
        assert answer.headers["x-openstack-request-id"] == "trace-42"
        probe = httpx.get(server.url + "/healthz", timeout=10)
        generated = probe.headers["x-openstack-request-id"]
        assert GENERATED_ID.fullmatch(generated)
        assert probe.headers["x-request-id"] == generated
        lines = wait_for_lines(server, lambda lines: any(generated in line for line in lines))
    finally:
        assert server.stop() == 0
    parsed = [HUMAN_LINE.fullmatch(line) for line in server.errors.read_text().splitlines()]
    assert parsed and all(parsed), lines
    uvicorn_lines = [m for m in parsed if m and m["logger"].startswith("uvicorn")]
    assert uvicorn_lines, "uvicorn's own lines take the same format"
    access = [m for m in parsed if m and m["logger"] == "herald.access"]
    by_id = {m["request_id"]: m["message"] for m in access}
    client = sent["Client-ID"].replace("-", "")
    assert re.fullmatch(
        rf"POST /v2/queues/\{{queue\}}/messages 201 \d+\.\d+ms "
        rf"project={sent['X-Project-ID']} client={client}",
        by_id["trace-42"],
    )
    assert re.fullmatch(r"GET /healthz 200 \d+\.\d+ms project=- client=-", by_id[generated])


def test_json_lines_parse_and_carry_the_access_fields(tmp_path: Path) -> None:
    server = serve(sqlite_store(tmp_path), tmp_path, "--log-format", "json")
    try:
        sent = headers()
        answer = post_one(server.url, sent, **{"X-OpenStack-Request-ID": "req-from-client"})
        assert answer.headers["x-request-id"] == "req-from-client"
        missing = httpx.get(f"{server.url}/v2/queues/logged/messages/99", headers=sent)
        assert missing.status_code == 404
        missing_id = missing.headers["x-request-id"]
        wait_for_lines(server, lambda lines: any(missing_id in line for line in lines))
    finally:
        assert server.stop() == 0
    records = [json.loads(line) for line in server.errors.read_text().splitlines()]
    assert records
    for record in records:
        assert {"time", "level", "logger", "request_id", "message"} <= record.keys()
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"])
    assert any(r["logger"].startswith("uvicorn") for r in records)
    access = {r["request_id"]: r for r in records if r["logger"] == "herald.access"}
    posted = access["req-from-client"]
    assert posted["method"] == "POST"
    assert posted["route"] == "/v2/queues/{queue}/messages"
    assert posted["status"] == 201
    assert posted["duration_ms"] >= 0
    assert posted["project"] == sent["X-Project-ID"]
    assert posted["client_id"] == sent["Client-ID"].replace("-", "")
    assert access[missing_id]["route"] == "/v2/queues/{queue}/messages/{message_id}"
    assert access[missing_id]["status"] == 404


@pytest.mark.parametrize(
    "given",
    ["x" * 129, "has space", "tab\tin", "caf\u00e9", ""],
    ids=["129-chars", "space", "tab", "non-ascii", "empty"],
)
def test_an_insane_request_id_is_replaced_by_a_generated_one(
    given: str, tmp_path: Path, herald_url: str
) -> None:
    answer = httpx.get(
        herald_url + "/healthz", headers={b"X-Request-ID": given.encode("utf-8")}, timeout=10
    )
    assert answer.status_code == 200
    assert GENERATED_ID.fullmatch(answer.headers["x-request-id"])


def test_a_request_id_of_128_printable_characters_is_kept(herald_url: str) -> None:
    given = "A~!" * 42 + "zz"
    assert len(given) == 128
    answer = httpx.get(herald_url + "/healthz", headers={"X-Request-ID": given}, timeout=10)
    assert answer.headers["x-request-id"] == given


@pytest.fixture(scope="module")
def herald_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("herald")
    server = serve(sqlite_store(workdir), workdir)
    try:
        yield server.url
    finally:
        assert server.stop() == 0


def test_access_log_off_keeps_request_ids_but_writes_no_access_lines(tmp_path: Path) -> None:
    server = serve(sqlite_store(tmp_path), tmp_path, env={"HERALD_ACCESS_LOG": "false"})
    try:
        answer = post_one(server.url, headers(), **{"X-Request-ID": "quiet-1"})
        assert answer.headers["x-request-id"] == "quiet-1"
    finally:
        assert server.stop() == 0
    log = server.errors.read_text()
    assert "Application startup complete" in log
    assert "herald.access" not in log


@pytest.mark.parametrize("auth", ["noauth", "apikey", "keystone"])
def test_probes_answer_without_any_header_whatever_auth_is(auth: str, tmp_path: Path) -> None:
    # A Keystone out of reach only warns at start-up; the probes do not ask it anything.
    keystone = {
        "HERALD_KEYSTONE_AUTH_URL": "http://127.0.0.1:9/v3",
        "HERALD_KEYSTONE_USERNAME": "herald",
        "HERALD_KEYSTONE_PASSWORD": "secret",
        "HERALD_KEYSTONE_PROJECT_NAME": "service",
        "HERALD_KEYSTONE_TIMEOUT": "1",
    }
    env = {"HERALD_AUTH": auth, **(keystone if auth == "keystone" else {})}
    server = serve(sqlite_store(tmp_path), tmp_path, env=env)
    try:
        bare = httpx.Client(base_url=server.url, timeout=10, headers={"User-Agent": ""})
        with bare:
            alive = bare.get("/healthz")
            assert (alive.status_code, alive.json()) == (200, {"status": "alive"})
            ready = bare.get("/readyz")
            assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
            assert bare.head("/readyz").status_code == 200
            assert bare.post("/readyz").status_code == 405
            # The API itself still wants credentials in these modes.
            if auth != "noauth":
                assert bare.get("/v2/queues").status_code == 401
    finally:
        assert server.stop() == 0


# Nothing in the background (collection, the delivery engine woken by its lost
# outbox watch) meets the outage first: the requests' answers must.
QUIET = {"HERALD_GC_INTERVAL": "0", "HERALD_NOTIFICATIONS_ENABLED": "false"}


@pytest.fixture(params=["redis", "postgres"])
def relayed_store(request: pytest.FixtureRequest) -> Iterator[tuple[str, TcpProxy]]:
    """A Redis or PostgreSQL store reached through a relay the test can cut."""
    name = f"herald_test_{uuid.uuid4().hex[:10]}"
    uris = (
        backends.redis_store_uri(name)
        if request.param == "redis"
        else backends.postgres_store_uri(name)
    )
    for uri in uris:
        target = httpx.URL(uri.replace("postgresql://", "http://").replace("redis://", "http://"))
        proxy = TcpProxy(target.host, target.port or 0).start()
        try:
            yield proxy.in_front_of(uri), proxy
        finally:
            proxy.cut()


def test_an_outage_logs_one_line_as_it_begins_and_one_as_it_ends(
    relayed_store: tuple[str, TcpProxy], tmp_path: Path
) -> None:
    uri, proxy = relayed_store
    server = serve(uri, tmp_path, env=QUIET)
    sent = headers()
    try:
        assert post_one(server.url, sent).status_code == 201
        assert httpx.get(server.url + "/readyz", timeout=10).status_code == 200
        proxy.cut()
        failed = post_one(server.url, sent, **{"X-Request-ID": "first-to-fail"})
        assert failed.status_code == 503
        for _ in range(5):
            assert post_one(server.url, sent).status_code == 503
        time.sleep(1.1)  # past the readiness cache, so the probe asks the store
        ready = httpx.get(server.url + "/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["title"] == "Service temporarily unavailable"
        assert "description" in ready.json()
        assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
        proxy.start()
        wait_for_lines(server, lambda lines: any("store outage ended" in x for x in lines))
        deadline = time.monotonic() + 15
        while httpx.get(server.url + "/readyz", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "readyz never came back"
            time.sleep(0.1)
        assert post_one(server.url, sent).status_code == 201
    finally:
        assert server.stop() == 0
    lines = server.errors.read_text().splitlines()
    began = [line for line in lines if "store outage began" in line]
    ended = [line for line in lines if "store outage ended" in line]
    assert len(began) == 1, lines
    assert len(ended) == 1, lines
    assert "[first-to-fail]" in began[0]
    assert " ERROR " in began[0]
    assert "Traceback" not in "\n".join(lines)
    # Every line is still a log line of the format: no stray output from a driver.
    assert all(HUMAN_LINE.fullmatch(line) for line in lines), lines


def test_an_outage_met_over_a_websocket_is_logged_once_too(
    relayed_store: tuple[str, TcpProxy], tmp_path: Path
) -> None:
    uri, proxy = relayed_store
    server = serve(uri, tmp_path, env=QUIET)
    post = {"queue_name": "logged", "messages": [{"body": 1}]}
    try:
        with Frames(server.url) as frames:
            assert frames.ok("message_post", post, 201)
            proxy.cut()
            for _ in range(4):
                frames.send("message_post", post)
                assert status_of(frames.reply_to("message_post")) == 503
            lines = wait_for_lines(server, lambda got: any("store outage began" in x for x in got))
            proxy.start()
            wait_for_lines(server, lambda got: any("store outage ended" in x for x in got))
            assert frames.ok("message_post", post, 201)
    finally:
        assert server.stop() == 0
    lines = server.errors.read_text().splitlines()
    assert len([line for line in lines if "store outage began" in line]) == 1, lines
    assert len([line for line in lines if "store outage ended" in line]) == 1, lines
    assert "Traceback" not in "\n".join(lines)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"HERALD_METRICS_PORT": "70000"}, "metrics_port must be from 0 (no metrics) to 65535"),
        ({"HERALD_METRICS_PORT": "-1"}, "metrics_port must be from 0 (no metrics) to 65535"),
        ({"HERALD_METRICS_PORT": "9999", "HERALD_PORT": "9999"}, "metrics_port must differ"),
        ({"HERALD_METRICS_HOST": ""}, "metrics_host must name an address"),
        ({"HERALD_METRICS_QUEUES": "1001"}, "metrics_queues must be from 0 to 1000"),
        ({"HERALD_METRICS_QUEUES": "-1"}, "metrics_queues must be from 0 to 1000"),
        ({"HERALD_METRICS_DEPTH_INTERVAL": "0.5"}, "metrics_depth_interval must be from 1"),
        ({"HERALD_METRICS_DEPTH_INTERVAL": "3601"}, "metrics_depth_interval must be from 1"),
        ({"HERALD_READY_CACHE_SECONDS": "60.5"}, "ready_cache_seconds must be from 0 to 60"),
        ({"HERALD_READY_CACHE_SECONDS": "-1"}, "ready_cache_seconds must be from 0 to 60"),
        ({"HERALD_LOG_FORMAT": "xml"}, "log_format"),
        ({"HERALD_ACCESS_LOG": "sometimes"}, "access_log"),
    ],
)
def test_a_bad_setting_stops_start_up_with_one_line(
    env: dict[str, str], says: str, tmp_path: Path
) -> None:
    args = ("--port", env.pop("HERALD_PORT")) if "HERALD_PORT" in env else ()
    code, output = failed_start(tmp_path, *args, env=env)
    assert code == 2
    assert output.count("\n") == 1, output
    assert output.startswith("herald: ")
    assert says in output


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ({"HERALD_METRICS_QUEUES": "1000"}, 1000),
        ({"HERALD_METRICS_QUEUES": "0"}, 0),
        ({"HERALD_METRICS_DEPTH_INTERVAL": "1"}, 1),
        ({"HERALD_METRICS_DEPTH_INTERVAL": "3600"}, 3600),
        ({"HERALD_READY_CACHE_SECONDS": "60"}, 60),
        ({"HERALD_READY_CACHE_SECONDS": "0"}, 0),
        ({"HERALD_METRICS_PORT": "65535"}, 65535),
    ],
)
def test_settings_at_their_bounds_are_taken(env: dict[str, str], value: float) -> None:
    from herald.config import load_settings

    settings = load_settings(environ=env)
    (name,) = env
    assert getattr(settings, name.removeprefix("HERALD_").lower()) == value
