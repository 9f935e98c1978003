"""The admin commands with `--token` against a keystone Herald and the real Keystone."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from admin_support import Herald
from auth_support import ServerFactory


def test_a_keystone_token_acts_for_its_project_whatever_project_is_given(
    keystone_herald: ServerFactory,
    tokens: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    herald = Herald(keystone_herald().url, capsys)
    queue = f"cli-{uuid.uuid4().hex[:8]}"
    alice, bob = tokens("alice"), tokens("bob")
    refused = herald("queue", "create", queue)
    assert refused.code == 1
    assert refused.err.startswith("herald: 401 Unauthorized")
    assert herald("queue", "create", queue, "--token", alice).code == 0
    assert herald("message", "post", queue, '"hi"', "--token", alice).code == 0
    listed = herald("queue", "list", "--all", "--json", "--token", alice).json()
    assert queue in [q["name"] for q in listed["queues"]]
    # --project names neither's project and is ignored: each token decides.
    elsewhere = herald("message", "list", queue, "--json", "--token", bob).json()
    assert elsewhere["messages"] == []
    mine = herald("message", "list", queue, "--json", "--token", alice).json()
    assert [m["body"] for m in mine["messages"]] == ["hi"]


def test_subscriptions_belong_to_the_tokens_project(
    keystone_herald: ServerFactory,
    tokens: Callable[[str], str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    herald = Herald(keystone_herald().url, capsys)
    queue = f"cli-{uuid.uuid4().hex[:8]}"
    alice, bob = tokens("alice"), tokens("bob")
    hook = "http://127.0.0.1:9/hook"
    made = herald("subscription", "create", queue, hook, "--token", alice, "--json")
    assert made.code == 0
    subscription_id = made.json()["subscription_id"]
    theirs = herald("subscription", "list", queue, "--json", "--token", bob).json()
    assert theirs["subscriptions"] == []
    unseen = herald("subscription", "show", queue, subscription_id, "--token", bob)
    assert unseen.code == 1 and unseen.err.startswith("herald: 404 ")
    mine = herald("subscription", "list", queue, "--json", "--token", alice).json()
    assert [s["id"] for s in mine["subscriptions"]] == [subscription_id]
    assert herald("subscription", "delete", queue, subscription_id, "--token", alice).code == 0
