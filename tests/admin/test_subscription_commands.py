"""`herald subscription ...` against a live `herald serve`, refusals and all."""

from __future__ import annotations

from admin_support import Herald, run_herald
from support import free_port

HOOK = "http://127.0.0.1:9/hook"


def test_create_list_show_and_delete(herald: Herald) -> None:
    created = herald(
        "subscription", "create", "jobs", HOOK, "--ttl", "600", "--options", '{"team": "ops"}'
    )
    assert created.code == 0
    subscription_id = created.out.removeprefix("subscription: ").strip()
    assert created.out == f"subscription: {subscription_id}\n" and subscription_id

    table = herald("subscription", "list", "jobs").out.splitlines()
    assert table[0].split() == ["ID", "SUBSCRIBER", "TTL", "AGE", "CONFIRMED", "OPTIONS"]
    assert len(table) == 2
    row = table[1].split()
    assert row[:3] == [subscription_id, HOOK, "600"]
    assert row[4:] == ["no", '{"team":"ops"}']

    shown = herald("subscription", "show", "jobs", subscription_id)
    assert shown.code == 0
    lines = shown.out.splitlines()
    assert lines[:3] == [f"id: {subscription_id}", "queue: jobs", f"subscriber: {HOOK}"]
    assert "confirmed: no" in lines and 'options: {"team":"ops"}' in lines
    document = herald("subscription", "get", "jobs", subscription_id, "--json").json()
    assert document["subscriber"] == HOOK and document["options"] == {"team": "ops"}

    deleted = herald("subscription", "delete", "jobs", subscription_id)
    assert (deleted.code, deleted.out) == (0, f"deleted subscription {subscription_id}\n")
    assert len(herald("subscription", "list", "jobs").out.splitlines()) == 1
    gone = herald("subscription", "show", "jobs", subscription_id)
    assert gone.code == 1
    assert gone.err.startswith("herald: 404 Not found: ")


def test_json_says_what_was_done(herald: Herald) -> None:
    made = herald("subscription", "create", "jobs", HOOK, "--json").json()
    assert made["queue"] == "jobs" and made["subscription_id"]
    subscription_id = made["subscription_id"]
    again = herald("subscription", "create", "jobs", HOOK, "--json").json()
    assert again["subscription_id"] == subscription_id
    listed = herald("subscription", "list", "jobs", "--json").json()
    assert [s["id"] for s in listed["subscriptions"]] == [subscription_id]
    deleted = herald("subscription", "delete", "jobs", subscription_id, "--json").json()
    assert deleted == {"subscription_id": subscription_id, "deleted": True}


def test_list_all_follows_the_pages(herald: Herald) -> None:
    made = []
    for number in range(3):
        ran = herald("subscription", "create", "q", f"{HOOK}{number}", "--json")
        made.append(ran.json()["subscription_id"])
    first = herald("subscription", "list", "q", "--limit", "1", "--json").json()
    assert len(first["subscriptions"]) == 1
    every = herald("subscription", "list", "q", "--all", "--limit", "1", "--json").json()
    assert sorted(s["id"] for s in every["subscriptions"]) == sorted(made)


def test_update_and_confirm(herald: Herald) -> None:
    subscription_id = herald("subscription", "create", "jobs", HOOK, "--json").json()[
        "subscription_id"
    ]
    other = "http://127.0.0.1:9/other"
    updated = herald(
        "subscription", "update", "jobs", subscription_id, "--subscriber", other, "--ttl", "900"
    )
    assert updated.code == 0
    assert updated.out == f"updated the subscriber and ttl of subscription {subscription_id}\n"
    confirmed = herald("subscription", "confirm", "jobs", subscription_id)
    assert (confirmed.code, confirmed.out) == (0, f"confirmed subscription {subscription_id}\n")
    duplicate = herald("subscription", "create", "jobs", other)
    assert duplicate.code == 1
    assert duplicate.err.startswith("herald: 409 Resource conflict: ")
    assert subscription_id in duplicate.err
    shown = herald("subscription", "show", "jobs", subscription_id, "--json").json()
    assert (shown["subscriber"], shown["ttl"], shown["confirmed"]) == (other, 900, True)
    revoked = herald("subscription", "confirm", "jobs", subscription_id, "--revoke", "--json")
    assert revoked.json() == {"subscription_id": subscription_id, "confirmed": False}
    assert (
        herald("subscription", "show", "jobs", subscription_id, "--json").json()["confirmed"]
        is False
    )
    nothing = herald("subscription", "update", "jobs", subscription_id)
    assert nothing.code == 2
    assert "nothing to change" in nothing.err


def test_a_bad_subscriber_is_the_servers_refusal_and_creates_nothing(herald: Herald) -> None:
    refused = herald("subscription", "create", "jobs", "ftp://example.com/drop")
    assert refused.code == 1
    assert refused.out == ""
    assert refused.err.startswith(
        "herald: 400 Invalid API request: The subscriber type of subscription must be "
        "supported in the list ["
    )
    assert refused.err.count("\n") == 1
    short = herald("subscription", "create", "jobs", HOOK, "--ttl", "59")
    assert short.code == 1 and short.err.startswith("herald: 400 ")
    assert herald("subscription", "list", "jobs", "--json").json()["subscriptions"] == []


def test_bad_usage_exits_2(herald: Herald) -> None:
    not_object = herald("subscription", "create", "jobs", HOOK, "--options", "[1]")
    assert not_object.code == 2
    assert "expected a JSON object, not '[1]'" in not_object.err
    zero = herald("subscription", "create", "jobs", HOOK, "--ttl", "0")
    assert zero.code == 2
    no_subscriber = herald("subscription", "create", "jobs")
    assert no_subscriber.code == 2
    assert herald("subscription", "list", "jobs", "--json").json()["subscriptions"] == []


def test_an_unreachable_server_exits_3() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    ran = run_herald("subscription", "create", "jobs", HOOK, "--url", url, "--project", "p")
    assert ran.code == 3
    assert ran.err.startswith(f"herald: cannot reach {url}: ")
    assert ran.err.count("\n") == 1
