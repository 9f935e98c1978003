"""`herald message ...` and `herald claim ...` against a live `herald serve`."""

from __future__ import annotations

from admin_support import Herald


def posted_ids(herald: Herald, queue: str, *bodies: str) -> list[str]:
    ran = herald("message", "post", queue, *bodies, "--json")
    assert ran.code == 0, ran.err
    return [href.rsplit("/", 1)[-1] for href in ran.json()["resources"]]


def test_post_takes_json_bodies_or_text_and_prints_the_ids(herald: Herald) -> None:
    posted = herald("message", "post", "jobs", '{"task": 1}', "[1, 2]", "--ttl", "120")
    assert posted.code == 0
    header, *ids = posted.out.split()
    assert header == "ID" and len(ids) == 2
    assert herald("message", "post", "jobs", "--text", "plain words").code == 0
    listed = herald("message", "list", "jobs", "--json").json()["messages"]
    assert [m["body"] for m in listed] == [{"task": 1}, [1, 2], "plain words"]
    assert [m["ttl"] for m in listed] == [120, 120, 3600]


def test_list_prints_a_table_with_the_claim_of_each_message(herald: Herald) -> None:
    posted_ids(herald, "jobs", '"a"', '"b"')
    claim = herald("claim", "create", "jobs", "--limit", "1", "--json").json()
    table = herald("message", "list", "jobs", "--include-claimed")
    header, first, second = table.out.splitlines()
    assert header.split() == ["ID", "AGE", "TTL", "CLAIM", "BODY"]
    assert first.split()[3:] == [claim["claim_id"], "a"]
    assert second.split()[3:] == ["-", "b"]
    unclaimed = herald("message", "list", "jobs").out.splitlines()
    assert len(unclaimed) == 2 and unclaimed[1].endswith("b")


def test_peek_shows_one_or_several_messages_by_id(herald: Herald) -> None:
    first, second = posted_ids(herald, "jobs", '{"n": 1}', '{"n": 2}')
    one = herald("message", "peek", "jobs", first, "--json").json()
    assert [m["body"] for m in one["messages"]] == [{"n": 1}]
    both = herald("message", "peek", "jobs", first, second)
    assert both.code == 0
    assert [line.split()[0] for line in both.out.splitlines()] == ["ID", first, second]


def test_delete_by_ids_and_a_claimed_one_with_its_claim(herald: Herald) -> None:
    first, second, third = posted_ids(herald, "jobs", "1", "2", "3")
    deleted = herald("message", "delete", "jobs", first, second)
    assert (deleted.code, deleted.out) == (0, "deleted 2 messages\n")
    claim_id = herald("claim", "create", "jobs", "--json").json()["claim_id"]
    refused = herald("message", "delete", "jobs", third)
    assert refused.code == 1
    assert refused.err.startswith("herald: 403 Unable to delete: This message is claimed")
    with_claim = herald("message", "delete", "jobs", third, "--claim-id", claim_id, "--json")
    assert with_claim.json() == {"queue": "jobs", "deleted": [third]}
    assert herald("queue", "stats", "jobs", "--json").json()["messages"]["total"] == 0


def test_claim_create_prints_the_claim_and_release_frees_its_messages(herald: Herald) -> None:
    posted_ids(herald, "jobs", '"x"', '"y"')
    claimed = herald("claim", "create", "jobs", "--limit", "2", "--ttl", "60", "--grace", "60")
    assert claimed.code == 0
    first, header, *rows = claimed.out.splitlines()
    claim_id = first.removeprefix("claim: ")
    assert header.split() == ["ID", "AGE", "TTL", "CLAIM", "BODY"]
    assert [row.split()[3:] for row in rows] == [[claim_id, "x"], [claim_id, "y"]]
    nothing = herald("claim", "create", "jobs")
    assert (nothing.code, nothing.out) == (0, "no messages to claim\n")
    assert herald("claim", "create", "jobs", "--json").json() == {
        "claim_id": None,
        "messages": [],
    }
    released = herald("claim", "release", "jobs", claim_id)
    assert (released.code, released.out) == (0, f"released claim {claim_id}\n")
    again = herald("claim", "create", "jobs", "--json").json()
    assert [m["body"] for m in again["messages"]] == ["x", "y"]


def test_an_id_or_name_stays_one_path_segment(herald: Herald) -> None:
    first, second = posted_ids(herald, "jobs", '"kept"', '"also kept"')
    # Sent as given, `..` would make DELETE /v2/queues/jobs, and `x?pop=2` a pop.
    assert herald("message", "delete", "jobs", "..").code == 0
    assert herald("message", "delete", "jobs", "x?pop=2").code == 0
    # Herald reads the escaped slash as a slash again, and the path then names nothing.
    nowhere = herald("message", "delete", "jobs", f"{first}/../{second}")
    assert nowhere.code == 1
    assert nowhere.err == "herald: 404 Not Found\n"
    assert herald("queue", "stats", "jobs", "--json").json()["messages"]["total"] == 2
    refused = herald("queue", "delete", "a/b")
    assert refused.code == 1
    assert refused.err == "herald: 404 Not Found\n"
    dots = herald("queue", "create", "..")
    assert dots.code == 1 and "Invalid queue identification" in dots.err
