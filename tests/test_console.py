"""The web console in a real browser: headless Chromium driven by Playwright.

Chromium comes from the system (`/usr/bin/chromium`, Debian's package); without
it the browser tests skip locally and fail under HERALD_REQUIRE_BACKENDS=1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from apikey_support import keyed_server
from support import ServerProcess, headers, make_settings, running_app, server_environ
from webhook_receiver import webhook_receiver

CHROMIUM = os.environ.get("HERALD_TEST_CHROMIUM", "/usr/bin/chromium")
# What this closed network needs: no sandbox (root in a container), and no calls home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        message = f"Chromium is not at {CHROMIUM}; install Debian's chromium package"
        if os.environ.get("HERALD_REQUIRE_BACKENDS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # A refused API call is logged by the browser too; the page shows those itself.
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("requestfailed", lambda request: errors.append(f"failed: {request.url}"))
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status}: {r.url}")
            if r.status == 404 and "/console" in r.url
            else None
        ),
    )
    page.set_default_timeout(15_000)
    yield page
    context.close()
    assert not errors, errors


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`herald serve --console` in a process of its own, as an operator would run it."""
    workdir = tmp_path_factory.mktemp("console")
    server = ServerProcess(f"sqlite:///{workdir / 'herald.sqlite3'}", workdir, "--console")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def connect(page: Any, url: str, project: str, token: str = "") -> None:
    page.goto(f"{url}/console")
    page.fill("#project", project)
    if token:
        page.fill("#token", token)
    page.click("#connect button")


def rows(page: Any) -> Any:
    return page.locator("#messages tbody tr")


def test_create_post_browse_claim_and_purge(page: Any, console_server: ServerProcess) -> None:
    project = f"console-{uuid.uuid4().hex[:8]}"
    connect(page, console_server.url, project)
    page.fill("#new-queue", "orders")
    page.click("#create-queue button")
    page.wait_for_selector("#queue-title:has-text('Queue orders')")
    assert page.locator("#queues tbody tr[data-queue='orders']").count() == 1

    for number, delay in ((1, 0), (2, 0), (3, 120)):
        page.fill("#post-body", f'{{"order": {number}}}')
        page.fill("#post-delay", str(delay))
        page.click("#post button")
        page.wait_for_selector(f"#messages tbody tr:nth-child({number})")
    expect(page.locator("#messages td.state")).to_have_text(["free", "free", "delayed"])
    assert page.locator("#messages pre").all_text_contents() == [
        '{"order":1}',
        '{"order":2}',
        '{"order":3}',
    ]

    page.fill("#claim-limit", "1")
    page.click("#claim button")
    page.wait_for_selector("#claim-result:not([hidden])")
    assert page.locator("#claim-count").text_content() == "1 message"
    expect(page.locator("#messages td.state")).to_have_text(["claimed", "free", "delayed"])
    expect(page.locator("#queue-stats")).to_contain_text("2 free, 1 claimed")
    counts = page.locator("#queues tbody tr[data-queue='orders'] td")
    expect(counts).to_have_text(["orders", "2", "1", "3"])
    page.click("#release")
    page.wait_for_selector("#claim-result", state="hidden")
    expect(page.locator("#messages td.state")).to_have_text(["free", "free", "delayed"])

    # A purge asks for the queue's name; anything else leaves Confirm disabled.
    page.click("#purge")
    page.fill("#confirm-name", "order")
    assert page.locator("#confirm-ok").is_disabled()
    page.fill("#confirm-name", "orders")
    page.click("#confirm-ok")
    page.wait_for_selector("#status:has-text('Queue orders purged.')")
    expect(rows(page)).to_have_count(0)

    # The page showed what the API holds: the queue is there and empty.
    with httpx.Client(base_url=console_server.url, headers=headers(project)) as api:
        stats = api.get("/v2/queues/orders/stats").json()["messages"]
        assert stats["total"] == 0
        assert api.get("/v2/queues").json()["queues"][0]["name"] == "orders"


def subscribe(page: Any, subscriber: str, ttl: str, options: str) -> None:
    page.fill("#sub-subscriber", subscriber)
    page.fill("#sub-ttl", ttl)
    page.fill("#sub-options", options)
    page.click("#subscribe button")


def test_subscribe_a_webhook_see_it_delivered_to_then_delete_it(
    page: Any, console_server: ServerProcess
) -> None:
    project = f"console-{uuid.uuid4().hex[:8]}"
    subscriptions = page.locator("#subscriptions tbody tr")
    with webhook_receiver() as receiver:
        connect(page, console_server.url, project)
        page.fill("#new-queue", "orders")
        page.click("#create-queue button")
        page.wait_for_selector("#queue-title:has-text('Queue orders')")
        expect(subscriptions).to_have_count(0)

        hook, audit = receiver.url("/orders-hook"), receiver.url("/audit-hook")
        subscribe(page, hook, "600", '{"post_headers": {"X-Team": "ops"}}')
        expect(page.locator("#status")).to_contain_text(f"Subscribed {hook} (subscription ")
        subscribe(page, audit, "3600", '{"note": "<b>not markup</b>"}')
        expect(subscriptions).to_have_count(2)
        # Subscription ids are random and the API lists them by id: rows are found by text.
        first = page.locator(f"#subscriptions tbody tr:has-text('{hook}') td")
        expect(first.nth(0)).to_have_text(hook)
        expect(first.nth(1)).to_have_text("600")
        expect(first.nth(3)).to_have_text("no")
        expect(first.nth(4)).to_have_text('{"post_headers":{"X-Team":"ops"}}')
        assert page.locator("#subscriptions b").count() == 0
        audit_row = page.locator(f"#subscriptions tbody tr:has-text('{audit}')")
        expect(audit_row.locator("pre")).to_have_text('{"note":"<b>not markup</b>"}')

        for number in (7, 8):
            page.fill("#post-body", f'{{"order": {number}}}')
            page.click("#post button")
            page.wait_for_selector(f"#messages tbody tr:nth-child({number - 6})")
        delivered = receiver.wait_for("/orders-hook", 2)
        assert sorted(d.body["body"]["order"] for d in delivered) == [7, 8]
        assert {d.body["queue_name"] for d in delivered} == {"orders"}
        assert all(
            {k.lower(): v for k, v in d.headers.items()}["x-team"] == "ops" for d in delivered
        )
        assert len(receiver.wait_for("/audit-hook", 2)) == 2

        page.fill("#claim-limit", "1")
        page.click("#claim button")
        expect(page.locator("#messages td.state")).to_have_text(["claimed", "free"])
        if os.environ.get("HERALD_CONSOLE_SCREENSHOT"):
            page.screenshot(path=os.environ["HERALD_CONSOLE_SCREENSHOT"], full_page=True)

        # Deleting asks first; a cancel keeps the subscription.
        audit_row.locator("button:has-text('Delete')").click()
        expect(page.locator("#confirm-text")).to_have_text(
            f"Delete the subscription of {audit} to orders?"
        )
        assert page.locator("#confirm-name").is_hidden()
        page.click("#confirm button[value='cancel']")
        expect(subscriptions).to_have_count(2)
        audit_row.locator("button:has-text('Delete')").click()
        page.click("#confirm-ok")
        expect(page.locator("#status")).to_have_text(f"Subscription of {audit} deleted.")
        expect(subscriptions).to_have_count(1)

        # A subscriber the server refuses: its title and description, and nothing made.
        subscribe(page, "ftp://example.com/drop", "600", "{}")
        page.wait_for_selector("#status.error")
        expect(page.locator("#status")).to_contain_text(
            "Invalid API request: The subscriber type of subscription must be supported in the list"
        )
        expect(subscriptions).to_have_count(1)
        subscribe(page, hook, "600", "[not json")
        expect(page.locator("#status")).to_contain_text("The options must be JSON")

    with httpx.Client(base_url=console_server.url, headers=headers(project)) as api:
        left = api.get("/v2/queues/orders/subscriptions").json()["subscriptions"]
        assert [(s["subscriber"], s["ttl"]) for s in left] == [(hook, 600)]


def test_cancelled_confirmation_changes_nothing(page: Any, console_server: ServerProcess) -> None:
    project = f"console-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=console_server.url, headers=headers(project)) as api:
        api.post("/v2/queues/keep/messages", json={"messages": [{"body": 1}]})
        connect(page, console_server.url, project)
        page.click("#queues button.link:has-text('keep')")
        page.wait_for_selector("#messages tbody tr")
        page.click("#delete-queue")
        page.fill("#confirm-name", "keep")
        page.click("#confirm button[value='cancel']")
        assert rows(page).count() == 1
        assert api.get("/v2/queues/keep/stats").json()["messages"]["total"] == 1


def test_message_bodies_are_shown_as_text(page: Any, console_server: ServerProcess) -> None:
    project = f"console-{uuid.uuid4().hex[:8]}"
    hostile = "<img src=x onerror='document.title=1'>"
    with httpx.Client(base_url=console_server.url, headers=headers(project)) as api:
        api.post("/v2/queues/q/messages", json={"messages": [{"body": {"html": hostile}}]})
    connect(page, console_server.url, project)
    page.click("#queues button.link:has-text('q')")
    page.wait_for_selector("#messages tbody tr")
    assert page.locator("#messages img").count() == 0
    assert hostile in (page.locator("#messages pre").text_content() or "")


def test_paging_through_queues_and_messages(page: Any, console_server: ServerProcess) -> None:
    project = f"console-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=console_server.url, headers=headers(project)) as api:
        for number in range(22):
            api.put(f"/v2/queues/q{number:02d}")
        batch = [{"body": n} for n in range(10)]
        for _ in range(3):
            api.post("/v2/queues/q00/messages", json={"messages": batch})
    connect(page, console_server.url, project)
    page.wait_for_selector("#queues-more:not([hidden])")
    assert page.locator("#queues tbody tr").count() == 20
    page.click("#queues-more")
    page.wait_for_selector("#queues tbody tr:nth-child(22)")
    assert page.locator("#queues-more").is_hidden()

    page.click("#queues button.link:has-text('q00')")
    page.wait_for_selector("#messages-next:not([hidden])")
    assert rows(page).count() == 20
    page.click("#messages-next")
    # The page's policy forbids evaluated script, a waiting function included.
    expect(rows(page)).to_have_count(10)
    assert page.locator("#messages-next").is_hidden()


def test_the_api_judges_every_call_of_the_console(page: Any, tmp_path: Path) -> None:
    with keyed_server(tmp_path, console=True) as server:
        connect(page, server.url, "")
        page.wait_for_selector("#status.error")
        assert "Unauthorized" in (page.locator("#status").text_content() or "")
        assert page.locator("#queues tbody tr").count() == 0

        # The key is made as an operator makes one (this thread runs the browser's loop).
        command = ["keys", "create", "--project", "tenant-a", "--store", server.store_uri]
        made = subprocess.run(
            [sys.executable, "-m", "herald", *command],
            capture_output=True,
            text=True,
            check=True,
            env=server_environ(),
        )
        key = made.stdout.split("key: ", 1)[1].split()[0]
        with server.client(key) as api:
            api.put("/v2/queues/mine")
        connect(page, server.url, "", token=key)
        page.wait_for_selector("#queues tbody tr[data-queue='mine']")


def test_the_console_is_off_unless_enabled(tmp_path: Path) -> None:
    with running_app(make_settings(tmp_path)) as url:
        for path in ("/console", "/console/", "/console/console.js"):
            assert httpx.get(url + path).status_code == 404


@pytest.mark.parametrize("path", ["/console", "/console/"])
def test_the_page_may_only_run_its_own_script(tmp_path: Path, path: str) -> None:
    with running_app(make_settings(tmp_path, console=True)) as url:
        answer = httpx.get(url + path)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/html; charset=utf-8"
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert (
            httpx.get(url + "/console/console.js")
            .headers["content-type"]
            .startswith("text/javascript")
        )
        for missing in ("/console/nothing.js", "/console/../pyproject.toml", "/consoles"):
            assert httpx.get(url + missing).status_code == 404
