"""The access policy: oslo.policy's rule language, Zaqar's defaults and policy files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from herald import errors
from herald.auth.policy import ACTIONS, DEFAULT_RULES, Policy, PolicyError, load_policy
from herald.config import ConfigError
from herald.identity import Caller

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
