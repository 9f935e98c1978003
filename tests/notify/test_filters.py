"""SNS filter policies: a table of policies and bodies with the verdict SNS documents for each,
and every rule and limit of compiling one, at its boundary and past it."""

from __future__ import annotations

from typing import Any

import pytest

from herald.errors import InvalidRequest
from herald.service.filters import (
    MAX_COMBINATIONS,
    MAX_DEPTH,
    MAX_KEYS,
    MAX_POLICY_BYTES,
    compile_policy,
)

# The body of SNS's own examples of payload filtering.
ORDER: dict[str, Any] = {
    "customer_interests": ["soccer", "rugby", "hockey"],
    "store": "example_corp",
    "event": "order_placed",
    "price_usd": 210.75,
    "detail": {"region": "eu-west-1", "tier": 3, "flags": [{"on": True}, {"on": False}]},
    "nothing": None,
    "empty": [],
    "count": 5,
}

CASES: list[tuple[str, dict[str, Any], Any, bool]] = [
    # Exact values, typed.
    ("string equal", {"store": ["example_corp"]}, ORDER, True),
    ("string differs", {"store": ["other"]}, ORDER, False),
    ("strings are case-sensitive", {"store": ["Example_Corp"]}, ORDER, False),
    ("or within a list", {"store": ["other", "example_corp"]}, ORDER, True),
    ("number equal", {"count": [5]}, ORDER, True),
    ("number equals its float", {"count": [5.0]}, ORDER, True),
    ("float equal", {"price_usd": [210.75]}, ORDER, True),
    ("a number never matches its string", {"count": ["5"]}, ORDER, False),
    ("a string never matches its number", {"n": [5]}, {"n": "5"}, False),
    ("true matches true", {"b": [True]}, {"b": True}, True),
    ("true never matches 1", {"b": [True]}, {"b": 1}, False),
    ("1 never matches true", {"b": [1]}, {"b": True}, False),
    ("false never matches 0", {"b": [False]}, {"b": 0}, False),
    ("null matches null", {"nothing": [None]}, ORDER, True),
    ("null does not match a missing key", {"missing": [None]}, ORDER, False),
    ("null does not match a string", {"store": [None]}, ORDER, False),
    # Arrays in the body.
    ("an array matches by any element", {"customer_interests": ["rugby"]}, ORDER, True),
    ("an array with no such element", {"customer_interests": ["golf"]}, ORDER, False),
    ("nested arrays are flattened", {"a": ["x"]}, {"a": [["y", ["x"]]]}, True),
    ("an empty array matches no value", {"empty": ["x"]}, ORDER, False),
    # Missing keys and AND across keys.
    ("a missing key fails", {"missing": ["x"]}, ORDER, False),
    ("and across keys", {"store": ["example_corp"], "event": ["order_placed"]}, ORDER, True),
    ("one key failing fails all", {"store": ["example_corp"], "event": ["x"]}, ORDER, False),
    # Prefix, suffix, equals-ignore-case.
    ("prefix", {"event": [{"prefix": "order-"}, {"prefix": "order_"}]}, ORDER, True),
    ("prefix fails", {"event": [{"prefix": "pay"}]}, ORDER, False),
    ("prefix is for strings only", {"count": [{"prefix": "5"}]}, ORDER, False),
    ("suffix", {"event": [{"suffix": "_placed"}]}, ORDER, True),
    ("suffix fails", {"event": [{"suffix": "_cancelled"}]}, ORDER, False),
    ("equals-ignore-case", {"store": [{"equals-ignore-case": "EXAMPLE_corp"}]}, ORDER, True),
    ("equals-ignore-case differs", {"store": [{"equals-ignore-case": "example"}]}, ORDER, False),
    ("prefix on an array element", {"customer_interests": [{"prefix": "hoc"}]}, ORDER, True),
    # Anything-but.
    ("anything-but a value", {"store": [{"anything-but": "other"}]}, ORDER, True),
    ("anything-but the value", {"store": [{"anything-but": "example_corp"}]}, ORDER, False),
    ("anything-but a list", {"event": [{"anything-but": ["a", "order_placed"]}]}, ORDER, False),
    ("anything-but a list, passes", {"event": [{"anything-but": ["a", "b"]}]}, ORDER, True),
    ("anything-but numbers", {"count": [{"anything-but": [1, 2]}]}, ORDER, True),
    ("anything-but the number", {"count": [{"anything-but": [5]}]}, ORDER, False),
    ("anything-but a number passes its string", {"n": [{"anything-but": [5]}]}, {"n": "5"}, True),
    ("anything-but needs the key", {"missing": [{"anything-but": "x"}]}, ORDER, False),
    ("anything-but never matches null", {"nothing": [{"anything-but": "x"}]}, ORDER, False),
    ("anything-but never matches a boolean", {"b": [{"anything-but": "x"}]}, {"b": True}, False),
    ("anything-but prefix", {"event": [{"anything-but": {"prefix": "pay"}}]}, ORDER, True),
    ("anything-but prefix fails", {"event": [{"anything-but": {"prefix": "ord"}}]}, ORDER, False),
    ("anything-but suffix", {"event": [{"anything-but": {"suffix": "_placed"}}]}, ORDER, False),
    (
        "anything-but on an array: any element other than the list",
        {"customer_interests": [{"anything-but": ["rugby", "tennis"]}]},
        ORDER,
        True,
    ),
    (
        "anything-but on an array whose every element is listed",
        {"customer_interests": [{"anything-but": ["soccer", "rugby", "hockey"]}]},
        ORDER,
        False,
    ),
    # Numeric.
    ("numeric =", {"count": [{"numeric": ["=", 5]}]}, ORDER, True),
    ("numeric = fails", {"count": [{"numeric": ["=", 6]}]}, ORDER, False),
    ("numeric <", {"count": [{"numeric": ["<", 5]}]}, ORDER, False),
    ("numeric <=", {"count": [{"numeric": ["<=", 5]}]}, ORDER, True),
    ("numeric >", {"count": [{"numeric": [">", 5]}]}, ORDER, False),
    ("numeric >=", {"count": [{"numeric": [">=", 5]}]}, ORDER, True),
    ("numeric range", {"price_usd": [{"numeric": [">=", 100, "<", 300]}]}, ORDER, True),
    ("numeric range, above", {"price_usd": [{"numeric": [">", 0, "<=", 210.7]}]}, ORDER, False),
    ("numeric range, upper bound", {"count": [{"numeric": [">", 0, "<=", 5]}]}, ORDER, True),
    ("numeric range, lower bound open", {"count": [{"numeric": [">", 5, "<", 9]}]}, ORDER, False),
    ("numeric never matches a string", {"n": [{"numeric": ["=", 5]}]}, {"n": "5"}, False),
    ("numeric never matches a boolean", {"n": [{"numeric": ["=", 1]}]}, {"n": True}, False),
    ("numeric on an array", {"a": [{"numeric": [">", 10]}]}, {"a": [1, "x", 11]}, True),
    ("negative numbers", {"a": [{"numeric": ["<", -1e9 + 1]}]}, {"a": -1e9}, True),
    # Exists.
    ("exists true", {"store": [{"exists": True}]}, ORDER, True),
    ("exists true, missing", {"missing": [{"exists": True}]}, ORDER, False),
    ("exists true, null is not a value", {"nothing": [{"exists": True}]}, ORDER, False),
    ("exists true, an empty list has no value", {"empty": [{"exists": True}]}, ORDER, False),
    ("exists false, missing", {"missing": [{"exists": False}]}, ORDER, True),
    ("exists false, present", {"store": [{"exists": False}]}, ORDER, False),
    ("exists false, null", {"nothing": [{"exists": False}]}, ORDER, True),
    ("exists false under a missing parent", {"no": {"such": [{"exists": False}]}}, ORDER, True),
    ("exists true on an object", {"detail": [{"exists": True}]}, ORDER, True),
    # Nested keys.
    ("nested key", {"detail": {"region": [{"prefix": "eu-"}]}}, ORDER, True),
    ("nested number", {"detail": {"tier": [3]}}, ORDER, True),
    ("nested key missing", {"detail": {"zone": ["a"]}}, ORDER, False),
    ("nested under a string is missing", {"store": {"name": ["example_corp"]}}, ORDER, False),
    ("nested through an array of objects", {"detail": {"flags": {"on": [False]}}}, ORDER, True),
    (
        "nested and top-level, all must match",
        {"detail": {"region": ["eu-west-1"], "tier": [{"numeric": [">", 2]}]}, "count": [5]},
        ORDER,
        True,
    ),
    (
        "the SNS key-counting example",
        {
            "state": ["SUCCESS"],
            "severity": [{"exists": True}],
            "finding": {"region": [{"exists": True}], "account": [{"exists": True}]},
        },
        {"state": "SUCCESS", "severity": "HIGH", "finding": {"region": "r", "account": "a"}},
        True,
    ),
    # Mixed conditions in one list are OR.
    ("mixed or", {"count": ["x", {"numeric": [">", 4]}, {"exists": False}]}, ORDER, True),
    ("mixed or, none", {"count": ["x", {"numeric": [">", 5]}, {"exists": False}]}, ORDER, False),
    # The body itself.
    ("the empty policy matches anything", {}, "just a string", True),
    ("the empty policy matches an object", {}, ORDER, True),
    ("a body that is not an object", {"a": ["x"]}, ["x"], False),
    ("a string body", {"a": ["x"]}, "x", False),
    ("a null body", {"a": [{"exists": False}]}, None, False),
]


@pytest.mark.parametrize(
    ("policy", "body", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_a_policy_matches_as_sns_documents(
    policy: dict[str, Any], body: Any, expected: bool
) -> None:
    assert compile_policy(policy).matches(body) is expected


def test_one_compiled_policy_judges_many_bodies() -> None:
    policy = compile_policy({"kind": ["a", "b"], "size": [{"numeric": [">", 10]}]})
    verdicts = [
        policy.matches({"kind": kind, "size": size})
        for kind, size in (("a", 11), ("b", 100), ("c", 11), ("a", 10), ("a", "11"))
    ]
    assert verdicts == [True, True, False, False, False]


def _refused(policy: Any) -> str:
    with pytest.raises(InvalidRequest) as caught:
        compile_policy(policy)
    description = caught.value.description
    assert description.startswith("options.filter_policy")
    return description


@pytest.mark.parametrize(
    ("policy", "words"),
    [
        ([], "must be a JSON object"),
        ("{}", "must be a JSON object"),
        ({"a": "x"}, "'a': must be a list of conditions"),
        ({"a": 5}, "'a': must be a list of conditions"),
        ({"a": []}, "'a': must not be an empty list"),
        ({"a": {}}, "'a': must not be an empty object"),
        ({"a": {"b": "x"}}, "'a.b': must be a list"),
        ({"a": [["x"]]}, "a condition must be a string, number"),
        ({"a": [{}]}, "exactly one operator"),
        ({"a": [{"prefix": "x", "suffix": "y"}]}, "exactly one operator"),
        ({"a": [{"wildcard": "x*"}]}, "unknown operator 'wildcard'"),
        ({"a": [{"prefix": 5}]}, '"prefix" takes a non-empty string'),
        ({"a": [{"prefix": ""}]}, '"prefix" takes a non-empty string'),
        ({"a": [{"suffix": None}]}, '"suffix" takes a non-empty string'),
        ({"a": [{"equals-ignore-case": ["x"]}]}, '"equals-ignore-case" takes'),
        ({"a": [{"exists": "yes"}]}, '"exists" takes true or false'),
        ({"a": [{"exists": 1}]}, '"exists" takes true or false'),
        ({"a": [{"anything-but": []}]}, "at least one value"),
        ({"a": [{"anything-but": ["x", 1]}]}, "strings only or numbers only"),
        ({"a": [{"anything-but": [True]}]}, "strings only or numbers only"),
        ({"a": [{"anything-but": None}]}, "strings only or numbers only"),
        ({"a": [{"anything-but": {"numeric": [">", 1]}}]}, 'only {"prefix": ...}'),
        ({"a": [{"anything-but": {"prefix": ""}}]}, "anything-but prefix"),
        ({"a": [{"numeric": 5}]}, '"numeric" takes'),
        ({"a": [{"numeric": ["<"]}]}, '"numeric" takes'),
        ({"a": [{"numeric": ["<", "5"]}]}, '"numeric" takes'),
        ({"a": [{"numeric": ["<", True]}]}, '"numeric" takes'),
        ({"a": [{"numeric": ["!=", 5]}]}, '"numeric" takes'),
        ({"a": [{"numeric": [">", 1, "<", 5, ">", 0]}]}, '"numeric" takes'),
        ({"a": [{"numeric": ["<", 5, ">", 1]}]}, "a lower bound (> or >=) then an upper"),
        ({"a": [{"numeric": ["=", 1, "<", 5]}]}, "a lower bound (> or >=) then an upper"),
        ({"a": [{"numeric": [">", 5, "<", 5]}]}, "lower bound below its upper"),
        ({"a": [{"numeric": [">", 1e9 + 1]}]}, "numbers must be from -1000000000 to 1000000000"),
        ({"a": [-1e9 - 1]}, "numbers must be from"),
        ({"a": [{"anything-but": [2e9]}]}, "numbers must be from"),
    ],
)
def test_a_bad_policy_is_refused_with_its_reason(policy: Any, words: str) -> None:
    assert words in _refused(policy)


def test_numbers_at_the_limits_are_allowed() -> None:
    policy = compile_policy({"a": [1e9, -1e9, {"numeric": [">=", -1e9, "<=", 1e9]}]})
    assert policy.matches({"a": 1e9})
    assert policy.matches({"a": 0})


def test_at_most_five_top_level_keys() -> None:
    keys = {f"k{i}": ["x"] for i in range(MAX_KEYS)}
    assert compile_policy(keys).matches({f"k{i}": "x" for i in range(MAX_KEYS)})
    assert "at most 5 top-level keys, not 6" in _refused({**keys, "one_more": ["x"]})


def test_nested_keys_do_not_count_towards_the_five() -> None:
    # SNS counts only top-level keys when a policy filters the message body.
    nested = {"top": {f"k{i}": [{"exists": True}] for i in range(8)}}
    assert compile_policy(nested).matches({"top": {f"k{i}": 1 for i in range(8)}})


def test_at_most_150_combinations() -> None:
    # 5 * 5 * 6 = 150, the limit; one more value in any list makes 180.
    at_limit = {
        "a": [f"a{i}" for i in range(5)],
        "b": [f"b{i}" for i in range(5)],
        "c": {"d": [f"d{i}" for i in range(6)]},
    }
    assert MAX_COMBINATIONS == 150
    compile_policy(at_limit)
    past = {**at_limit, "b": [f"b{i}" for i in range(6)]}
    assert "has 180 combinations" in _refused(past)


def test_at_most_256_kilobytes() -> None:
    def policy_of(size: int) -> dict[str, Any]:
        # {"a":["xxx…"]} is 10 bytes of JSON around the string.
        return {"a": ["x" * (size - 10)]}

    compile_policy(policy_of(MAX_POLICY_BYTES))
    assert "at most 262144 bytes" in _refused(policy_of(MAX_POLICY_BYTES + 1))


def test_nesting_is_bounded() -> None:
    def nested(depth: int) -> dict[str, Any]:
        policy: dict[str, Any] = {"leaf": ["x"]}
        for _ in range(depth - 1):
            policy = {"k": policy}
        return policy

    compile_policy(nested(MAX_DEPTH))
    assert f"at most {MAX_DEPTH} deep" in _refused(nested(MAX_DEPTH + 1))
