"""The `openstack messaging` CLI against Herald, found through the real Keystone's catalog."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auth_support import ServerFactory
from keystone_server import Keystone

OPENSTACK = Path(sys.executable).with_name("openstack")
CLIENT_ID = str(uuid.uuid4())


@pytest.fixture(scope="module")
def catalogued(keystone_herald: ServerFactory, keystone: Keystone) -> Iterator[str]:
    """A keystone Herald that Keystone's catalog lists as the `messaging` service."""
    url = keystone_herald().url
    service = keystone.create("service", type="messaging", name="herald-cli", enabled=True)
    endpoint = keystone.create(
        "endpoint", service_id=service["id"], interface="public", url=url, region_id="RegionOne"
    )
    try:
        yield url
    finally:
        keystone.call("DELETE", f"/endpoints/{endpoint['id']}")
        keystone.call("DELETE", f"/services/{service['id']}")


def openstack(keystone: Keystone, user: str, *args: str) -> Any:
    """Run `openstack <args>` as the user; its JSON output (or None when it prints none)."""
    account = keystone.accounts[user]
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OS_", "HERALD_"))},
        "OS_AUTH_URL": keystone.auth_url,
        "OS_IDENTITY_API_VERSION": "3",
        "OS_USERNAME": account.name,
        "OS_PASSWORD": account.password,
        "OS_PROJECT_NAME": account.project_name,
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": "RegionOne",
        "OS_INTERFACE": "public",
        "OS_MESSAGE_CLIENT_ID": CLIENT_ID,
    }
    done = subprocess.run(
        [str(OPENSTACK), *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def test_the_openstack_cli_through_keystones_catalog(catalogued: str, keystone: Keystone) -> None:
    if not OPENSTACK.exists():
        pytest.fail("the openstack CLI is missing: pip install -e '.[test]'")
    queue = f"cli-{uuid.uuid4().hex[:8]}"
    openstack(keystone, "alice", "messaging", "queue", "create", queue, "-f", "json")
    listed = openstack(keystone, "alice", "messaging", "queue", "list", "-f", "json")
    assert queue in [row["Name"] for row in listed]
    messages = json.dumps([{"body": {"n": n}, "ttl": 300} for n in range(3)])
    openstack(keystone, "alice", "messaging", "message", "post", queue, messages)
    shown = openstack(
        keystone, "alice", "messaging", "message", "list", queue, "--echo", "-f", "json"
    )
    assert sorted(row["Body"]["n"] for row in shown) == [0, 1, 2]
    claimed = openstack(
        keystone,
        "alice",
        "messaging",
        "claim",
        "create",
        queue,
        "--ttl",
        "60",
        "--grace",
        "60",
        "--limit",
        "2",
        "-f",
        "json",
    )
    assert len(claimed) == 2
    # Bob's project has no such queue.
    theirs = openstack(keystone, "bob", "messaging", "queue", "list", "-f", "json")
    assert queue not in [row["Name"] for row in theirs]
