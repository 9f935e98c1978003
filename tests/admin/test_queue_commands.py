"""`herald queue ...` against a live `herald serve`."""

from __future__ import annotations

from admin_support import Herald


def test_create_reports_new_then_existing_and_json_says_which(herald: Herald) -> None:
    first = herald("queue", "create", "jobs", "--metadata", '{"_max_claim_count": 3}')
    assert (first.code, first.out) == (0, "created queue jobs\n")
    again = herald("queue", "create", "jobs", "--json")
    assert again.code == 0
    assert again.json() == {"queue": "jobs", "created": False}


def test_list_prints_a_table_and_json_the_servers_document(herald: Herald) -> None:
    for name in ("b-queue", "a-queue"):
        assert herald("queue", "create", name).code == 0
    table = herald("queue", "list")
    assert table.code == 0
    assert table.out.splitlines() == ["NAME", "a-queue", "b-queue"]
    document = herald("queue", "list", "--json", "--limit", "1").json()
    assert [q["name"] for q in document["queues"]] == ["a-queue"]
    assert document["links"][0]["rel"] == "next"


def test_list_all_follows_the_pages_and_detailed_shows_metadata(herald: Herald) -> None:
    for number in range(3):
        assert herald("queue", "create", f"q{number}").code == 0
    every = herald("queue", "list", "--all", "--limit", "1", "--json").json()
    assert [q["name"] for q in every["queues"]] == ["q0", "q1", "q2"]
    detailed = herald("queue", "list", "--detailed")
    header, first, *_ = detailed.out.splitlines()
    assert header.split() == ["NAME", "METADATA"]
    assert first.startswith("q0") and '"_default_message_ttl":3600' in first


def test_stats_counts_free_and_claimed(herald: Herald) -> None:
    assert herald("message", "post", "work", "1", "2", "3").code == 0
    assert herald("claim", "create", "work", "--limit", "1").code == 0
    stats = herald("queue", "stats", "work")
    assert stats.code == 0
    lines = stats.out.splitlines()
    assert lines[:4] == ["queue: work", "free: 2", "claimed: 1", "total: 3"]
    assert lines[4].startswith("oldest: ") and "/v2/queues/work/messages/" in lines[4]
    counts = herald("queue", "stats", "work", "--json").json()["messages"]
    assert (counts["free"], counts["claimed"], counts["total"]) == (2, 1, 3)


def test_purge_removes_the_messages_claimed_or_not_and_keeps_the_queue(herald: Herald) -> None:
    assert herald("message", "post", "old", "1", "2").code == 0
    assert herald("claim", "create", "old", "--limit", "1").code == 0
    purged = herald("queue", "purge", "old", "--only", "messages")
    assert (purged.code, purged.out) == (0, "purged the messages of queue old\n")
    assert herald("queue", "stats", "old", "--json").json()["messages"]["total"] == 0
    assert herald("queue", "list").out.splitlines() == ["NAME", "old"]
    both = herald("queue", "purge", "old", "--json")
    assert both.json() == {"queue": "old", "purged": ["messages", "subscriptions"]}


def test_delete_removes_the_queue(herald: Herald) -> None:
    assert herald("queue", "create", "gone").code == 0
    deleted = herald("queue", "delete", "gone")
    assert (deleted.code, deleted.out) == (0, "deleted queue gone\n")
    assert herald("queue", "list").out.splitlines() == ["NAME"]
