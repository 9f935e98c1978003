"""The access policy: oslo.policy's rule language, Zaqar's defaults, policy files, and the
service checking every operation's action before it touches the store."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, cast

import pytest

from herald import errors
from herald.auth.policy import ACTIONS, DEFAULT_RULES, Policy, PolicyError, load_policy
from herald.config import ConfigError
from herald.identity import Caller
from herald.model import Limits
from herald.service import Service
from herald.storage.base import Store
from support import server_environ

MEMBER = Caller(project="p", client_id="c", roles=frozenset({"member"}), user_id="u")
ADMIN = Caller(project="p", client_id="c", roles=frozenset({"admin"}))
NOBODY = Caller(project="p", client_id="c")
SIGNED = Caller(project="p", client_id="c", authenticated_by="signed_url")


def allows(rule: str, caller: Caller, **extra: str) -> bool:
    return Policy({"queues:delete": rule, **extra}).allows("queues:delete", caller)


# Zaqar's defaults


def test_by_default_health_pools_and_flavor_writes_need_the_admin_role() -> None:
    policy = Policy()
    admin_only = {
        "health:get",
        *(f"pools:{verb}" for verb in ("get_all", "create", "get", "delete", "update")),
        "flavors:create",
        "flavors:update",
        "flavors:delete",
    }
    assert {name for name in ACTIONS if DEFAULT_RULES[name] == "role:admin"} == admin_only
    for name in ACTIONS:
        assert policy.allows(name, ADMIN), name
        assert policy.allows(name, MEMBER) is (name not in admin_only), name
        assert policy.allows(name, SIGNED) is (name not in admin_only), name


def test_a_denial_is_not_authorized() -> None:
    with pytest.raises(errors.NotAuthorized) as raised:
        Policy().enforce("health:get", MEMBER)
    assert raised.value.description == "You are not authorized to complete this action."


# The rule language


@pytest.mark.parametrize(
    ("rule", "caller", "verdict"),
    [
        ("", NOBODY, True),
        ("@", NOBODY, True),
        ("!", ADMIN, False),
        ("role:admin", ADMIN, True),
        ("role:ADMIN", ADMIN, True),
        ("role:admin", MEMBER, False),
        ("not role:admin", MEMBER, True),
        ("role:admin or role:member", MEMBER, True),
        ("role:admin and role:member", MEMBER, False),
        # `and` binds tighter than `or`, and `not` tighter than both.
        ("role:member or role:admin and !", MEMBER, True),
        ("(role:member or role:admin) and !", MEMBER, False),
        ("not role:admin and role:member", MEMBER, True),
        ("not (role:admin or role:member)", MEMBER, False),
        ("((role:member))", MEMBER, True),
        ("role:member AND NOT role:admin", MEMBER, True),
        ("project_id:%(project_id)s", MEMBER, True),
        ("project_id:p", MEMBER, True),
        ("project_id:q", MEMBER, False),
        ("user_id:u", MEMBER, True),
        ("is_admin:True", ADMIN, True),
        ("is_admin:True", MEMBER, False),
        ("roles:member", MEMBER, True),
        ("authenticated_by:signed_url", SIGNED, True),
        ("authenticated_by:signed_url", MEMBER, False),
        ("rule:admin_or_owner", MEMBER, True),
        ("rule:context_is_admin", MEMBER, False),
        ("rule:context_is_admin", ADMIN, True),
    ],
)
def test_rules_read_as_oslo_policy_reads_them(rule: str, caller: Caller, verdict: bool) -> None:
    assert allows(rule, caller) is verdict


def test_rules_may_refer_to_rules_of_the_file() -> None:
    rules = {"producers": "role:producer or rule:context_is_admin"}
    producer = Caller(project="p", client_id="c", roles=frozenset({"producer"}))
    assert allows("rule:producers", producer, **rules)
    assert allows("rule:producers", ADMIN, **rules)
    assert not allows("rule:producers", MEMBER, **rules)


@pytest.mark.parametrize(
    ("rules", "says"),
    [
        ({"queues:delete": "role:admin and"}, "ends where a check was expected"),
        ({"queues:delete": "(role:admin"}, "never closed"),
        ({"queues:delete": "role:admin)"}, "unexpected ')'"),
        ({"queues:delete": "or role:admin"}, "'or' where a check was expected"),
        ({"queues:delete": "role:admin role:member"}, "unexpected 'role:member'"),
        ({"queues:delete": "admin"}, "not a check"),
        ({"queues:delete": "role:"}, "not a check"),
        ({"queues:delete": "http://example.invalid/check"}, "remote checks"),
        ({"queues:delete": "tenant:%(tenant_id)s"}, "the kinds of check"),
        ({"queues:delete": "project_id:%(tenant_id)s"}, "the target has only project_id"),
        ({"queues:delete": "'Member':%(role.name)s"}, "the kinds of check"),
        ({"queues:delete": "   "}, "is blank"),
        ({"queues:delete": "rule:nowhere"}, "'nowhere', which is not defined"),
        ({"a": "rule:b", "b": "rule:a"}, "refers to itself"),
        ({"queue:delete": "role:admin"}, "unknown action 'queue:delete'"),
        ({"queues:delete": ["role:admin"]}, "must be a string"),
        ({"queues:delete": None}, "must be a string"),
    ],
)
def test_a_bad_rule_is_refused_with_its_name(rules: dict[str, Any], says: str) -> None:
    with pytest.raises(PolicyError, match=says.replace("(", r"\(").replace(")", r"\)")):
        Policy(rules)


def test_zaqars_names_for_what_herald_does_not_serve_are_accepted() -> None:
    policy = Policy({"subscription:create": "role:admin", "topics:purge": "!"})
    assert not policy.allows("subscription:create", MEMBER)


# Policy files


def test_a_policy_file_is_oslo_policys_yaml(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        '# Zaqar-style\n"queues:delete": "rule:context_is_admin"\nqueues:purge: role:admin\n'
    )
    policy = load_policy(str(path))
    assert not policy.allows("queues:delete", MEMBER) and policy.allows("queues:delete", ADMIN)
    assert not policy.allows("queues:purge", MEMBER)
    assert policy.allows("queues:create", MEMBER)


def test_a_policy_file_may_be_json(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text('{"messages:create": "role:producer"}')
    assert not load_policy(str(path)).allows("messages:create", MEMBER)


def test_an_empty_policy_file_keeps_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("# nothing overridden\n")
    assert load_policy(str(path)).allows("queues:delete", NOBODY)
    assert load_policy("").allows("queues:delete", NOBODY)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('"queues:delete": "role:admin and"\n', "rule 'queues:delete'"),
        ("queues:delete: [role:admin\n", "is not YAML or JSON: line"),
        ("- role:admin\n", "must map rule names to rules"),
        ('"queues:remove": "!"\n', "unknown action"),
    ],
)
def test_a_bad_policy_file_is_one_line_naming_it(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_policy(str(path))
    message = str(raised.value)
    assert says in message and str(path) in message
    assert "\n" not in message


def test_a_missing_policy_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read policy file"):
        load_policy(str(tmp_path / "absent.yaml"))


@pytest.mark.parametrize(
    "text", ['"queues:delete": "role:admin or"\n', "{not yaml: [\n", '"queue:delete": ""\n']
)
def test_a_bad_policy_file_stops_start_up_with_one_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "herald", "serve", "--port", "0", "--store", "sqlite:///x.db"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**server_environ(), "HERALD_POLICY_FILE": str(path)},
    )
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"herald: policy file {path}")


# The service checks every operation


class _Untouchable:
    """A store that fails the test if an operation reaches it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the store was used ({name}) before the policy was checked")


def untouchable() -> Store:
    return cast(Store, _Untouchable())


CALLS: dict[str, tuple[str, Callable[[Service, Caller], Coroutine[Any, Any, Any]]]] = {
    "queues.listing": (
        "queues:get_all",
        lambda s, c: s.queues.listing(
            c, marker=None, limit=None, name=None, with_count=False, filters={}
        ),
    ),
    "queues.create": ("queues:create", lambda s, c: s.queues.create(c, "q", b"")),
    "queues.get": ("queues:get", lambda s, c: s.queues.get(c, "q")),
    "queues.update": ("queues:update", lambda s, c: s.queues.update(c, "q", b"[]")),
    "queues.delete": ("queues:delete", lambda s, c: s.queues.delete(c, "q")),
    "queues.stats": ("queues:stats", lambda s, c: s.queues.stats(c, "q")),
    "queues.purge": ("queues:purge", lambda s, c: s.queues.purge(c, "q", b"")),
    "sharing.share": ("queues:share", lambda s, c: s.sharing.share(c, "q", b"{}")),
    "messages.post": ("messages:create", lambda s, c: s.messages.post(c, "q", b"{}")),
    "messages.listing": ("messages:get_all", lambda s, c: s.messages.listing(c, "q")),
    "messages.get_many": ("messages:get_all", lambda s, c: s.messages.get_many(c, "q", ["1"])),
    "messages.get": ("messages:get", lambda s, c: s.messages.get(c, "q", "1")),
    "messages.delete_many": (
        "messages:delete_all",
        lambda s, c: s.messages.delete_many(c, "q", ids=None, pop=1, claim_ids=None),
    ),
    "messages.delete": ("messages:delete", lambda s, c: s.messages.delete(c, "q", "1", None)),
    "claims.create": ("claims:create", lambda s, c: s.claims.create(c, "q", None, b"")),
    "claims.get": ("claims:get", lambda s, c: s.claims.get(c, "q", "1")),
    "claims.update": ("claims:update", lambda s, c: s.claims.update(c, "q", "1", b"{}")),
    "claims.delete": ("claims:delete", lambda s, c: s.claims.delete(c, "q", "1")),
    "health.ping": ("ping:get", lambda s, c: s.health.ping(c)),
    "health.report": ("health:get", lambda s, c: s.health.report(c)),
}


def test_every_operation_of_the_service_is_in_the_table() -> None:
    service = Service(untouchable(), Limits())
    found = {
        f"{part}.{name}"
        for part in ("queues", "messages", "claims", "sharing", "health")
        for name in dir(getattr(service, part))
        if not name.startswith("_")
        and asyncio.iscoroutinefunction(getattr(service, part).__class__.__dict__.get(name))
    }
    assert found == set(CALLS)


@pytest.mark.parametrize("operation", sorted(CALLS))
def test_each_operation_is_refused_by_its_own_action_before_the_store(operation: str) -> None:
    name, call = CALLS[operation]
    service = Service(untouchable(), Limits(), policy=Policy({name: "!"}))
    with pytest.raises(errors.NotAuthorized):
        asyncio.run(call(service, ADMIN))


@pytest.mark.parametrize("operation", sorted(CALLS))
def test_no_other_action_refuses_an_operation(operation: str) -> None:
    name, call = CALLS[operation]
    service = Service(
        untouchable(), Limits(), policy=Policy({other: "!" for other in ACTIONS if other != name})
    )
    # Past the policy the operation checks its input or reaches the store, which says so.
    with pytest.raises((AssertionError, errors.HeraldError)) as raised:
        asyncio.run(call(service, ADMIN))
    assert not isinstance(raised.value, errors.NotAuthorized)
