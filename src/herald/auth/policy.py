"""Who may run which operation: Zaqar's default rules, which a policy file may override.

Rules are written in oslo.policy's language: `role:admin`, `rule:<name>`,
`project_id:%(project_id)s` (a credential of the caller against a value of the
target), `@` (anyone), `!` (no one), joined by `and`, `or`, `not` and
parentheses; an empty rule allows anyone. The target of every operation is
the project it acts on, which is always the caller's own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import yaml

from herald import errors
from herald.config import ConfigError
from herald.identity import Caller

ADMIN = "role:admin"
ANYONE = ""


def _actions(resource: str, verbs: str, rule: str) -> dict[str, str]:
    return {f"{resource}:{verb}": rule for verb in verbs.split()}


# Every name Zaqar's policy knows, with Zaqar's defaults, so that a Zaqar
# policy file reads unchanged; Herald checks the actions of what it serves.
DEFAULT_RULES: dict[str, str] = {
    "context_is_admin": ADMIN,
    "admin_or_owner": "is_admin:True or project_id:%(project_id)s",
    **_actions("queues", "get_all create get delete update stats share purge", ANYONE),
    **_actions("messages", "get_all create get delete delete_all", ANYONE),
    **_actions("claims", "create get update delete", ANYONE),
    **_actions("subscription", "get_all create get delete update confirm", ANYONE),
    **_actions("topics", "get_all create get delete update stats purge", ANYONE),
    "ping:get": ANYONE,
    "health:get": ADMIN,
    **_actions("pools", "get_all create get delete update", ADMIN),
    **_actions("flavors", "get_all get", ANYONE),
    **_actions("flavors", "create delete update", ADMIN),
}
ACTIONS = frozenset(name for name in DEFAULT_RULES if ":" in name)
DENIED = "You are not authorized to complete this action."

Target = Mapping[str, str]
TARGET_KEYS = ("project_id",)
_CREDENTIALS: dict[str, Callable[[Caller], Any]] = {
    "project_id": lambda caller: caller.project,
    "user_id": lambda caller: caller.user_id,
    "roles": lambda caller: sorted(caller.roles),
    "is_admin": lambda caller: caller.is_admin,
    "authenticated_by": lambda caller: caller.authenticated_by,
}
_SUBSTITUTION = re.compile(r"%\((\w+)\)s")


class PolicyError(ValueError):
    """A rule that does not parse, or names a rule or a value that does not exist."""


class Check:
    """One node of a parsed rule."""

    def allows(self, caller: Caller, target: Target, rules: Mapping[str, Check]) -> bool:
        raise NotImplementedError

    def references(self) -> Iterator[str]:
        """The names of the rules this check refers to."""
        return iter(())


class Always(Check):
    def __init__(self, verdict: bool) -> None:
        self.verdict = verdict

    def allows(self, caller: Caller, target: Target, rules: Mapping[str, Check]) -> bool:
        return self.verdict


class Role(Check):
    def __init__(self, name: str) -> None:
        # Roles compare without regard to case, as oslo.policy's do.
        self.name = name.lower()

    def allows(self, caller: Caller, target: Target, rules: Mapping[str, Check]) -> bool:
        return self.name in caller.roles


class RuleRef(Check):
    def __init__(self, name: str) -> None:
        self.name = name

    def allows(self, caller: Caller, target: Target, rules: Mapping[str, Check]) -> bool:
        return rules[self.name].allows(caller, target, rules)

    def references(self) -> Iterator[str]:
        yield self.name


class Match(Check):
    """A credential of the caller equal to a text, which may hold `%(key)s` of the target."""

    def __init__(self, credential: str, template: str) -> None:
        self.credential = _CREDENTIALS[credential]
        self.template = template

    def allows(self, caller: Caller, target: Target, rules: Mapping[str, Check]) -> bool:
        wanted = _SUBSTITUTION.sub(lambda found: target[found.group(1)], self.template)
        value = self.credential(caller)
        if isinstance(value, list):
            return any(str(item) == wanted for item in value)
        return str(value) == wanted


class Not(Check):
    def __init__(self, check: Check) -> None:
        self.check = check

    def allows(self, caller: Caller, target: Target, rules: Mapping[str, Check]) -> bool:
        return not self.check.allows(caller, target, rules)

    def references(self) -> Iterator[str]:
        return self.check.references()


class _Group(Check):
    def __init__(self, checks: list[Check]) -> None:
        self.checks = checks

    def references(self) -> Iterator[str]:
        for check in self.checks:
            yield from check.references()


class AllOf(_Group):
    def allows(self, caller: Caller, target: Target, rules: Mapping[str, Check]) -> bool:
        return all(check.allows(caller, target, rules) for check in self.checks)


class AnyOf(_Group):
    def allows(self, caller: Caller, target: Target, rules: Mapping[str, Check]) -> bool:
        return any(check.allows(caller, target, rules) for check in self.checks)


def parse_rule(text: str) -> Check:
    """Parse a rule of oslo.policy's language; PolicyError says what is wrong."""
    if text == "":
        return Always(True)
    tokens = _tokens(text)
    if not tokens:
        raise PolicyError('is blank: write "" to allow anyone or "!" to allow no one')
    parser = _Parser(tokens)
    check = parser.disjunction()
    if parser.position != len(tokens):
        raise PolicyError(f"has an unexpected {tokens[parser.position]!r}")
    return check


def _tokens(text: str) -> list[str]:
    # As oslo.policy splits them: words between spaces, with parentheses peeled
    # off their ends (a check like `%(project_id)s` keeps the ones inside).
    tokens: list[str] = []
    for word in text.split():
        core = word.lstrip("(")
        tokens += ["("] * (len(word) - len(core))
        inner = core.rstrip(")")
        if inner:
            tokens.append(inner.lower() if inner.lower() in ("and", "or", "not") else inner)
        tokens += [")"] * (len(core) - len(inner))
    return tokens


class _Parser:
    """Recursive descent: `not` binds tightest, then `and`, then `or`, as in oslo.policy."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.position = 0

    def disjunction(self) -> Check:
        checks = [self.conjunction()]
        while self._take("or"):
            checks.append(self.conjunction())
        return checks[0] if len(checks) == 1 else AnyOf(checks)

    def conjunction(self) -> Check:
        checks = [self.negation()]
        while self._take("and"):
            checks.append(self.negation())
        return checks[0] if len(checks) == 1 else AllOf(checks)

    def negation(self) -> Check:
        if self._take("not"):
            return Not(self.negation())
        if self._take("("):
            check = self.disjunction()
            if not self._take(")"):
                raise PolicyError("has a '(' that is never closed")
            return check
        if self.position == len(self.tokens):
            raise PolicyError("ends where a check was expected")
        token = self.tokens[self.position]
        if token in ("and", "or", ")"):
            raise PolicyError(f"has {token!r} where a check was expected")
        self.position += 1
        return _check(token)

    def _take(self, token: str) -> bool:
        if self.position < len(self.tokens) and self.tokens[self.position] == token:
            self.position += 1
            return True
        return False


def _check(token: str) -> Check:
    if token == "@":
        return Always(True)
    if token == "!":
        return Always(False)
    kind, colon, value = token.partition(":")
    if not colon or not value:
        raise PolicyError(f"has {token!r}, which is not a check (kind:value, @ or !)")
    if kind == "role":
        return Role(value)
    if kind == "rule":
        return RuleRef(value)
    if kind in ("http", "https"):
        raise PolicyError(f"has {token!r}: remote checks are not supported")
    if kind not in _CREDENTIALS:
        known = ", ".join(["role", "rule", *_CREDENTIALS])
        raise PolicyError(f"has {token!r}: the kinds of check are {known}")
    for key in _SUBSTITUTION.findall(value):
        if key not in TARGET_KEYS:
            raise PolicyError(f"has {token!r}: the target has only {', '.join(TARGET_KEYS)}")
    return Match(kind, value)


class Policy:
    """The rules in force: Zaqar's defaults with any overrides over them, parsed and checked."""

    def __init__(self, overrides: Mapping[str, Any] | None = None) -> None:
        texts = dict(DEFAULT_RULES)
        for name, text in (overrides or {}).items():
            if not isinstance(name, str):
                raise PolicyError(f"has a rule name that is not a string: {name!r}")
            if ":" in name and name not in ACTIONS:
                # A mistyped action would otherwise leave the real one at its default.
                raise PolicyError(f"names an unknown action {name!r}")
            if not isinstance(text, str):
                raise PolicyError(f"rule {name!r} must be a string, not {text!r}")
            texts[name] = text
        self._rules: dict[str, Check] = {}
        for name, text in texts.items():
            try:
                self._rules[name] = parse_rule(text)
            except PolicyError as exc:
                raise PolicyError(f"rule {name!r} ({text!r}) {exc}") from None
        self._check_references()
        # Most actions are open to anyone; they cost one set lookup.
        self._open = frozenset(
            name
            for name, check in self._rules.items()
            if isinstance(check, Always) and check.verdict
        )

    def allows(self, action: str, caller: Caller) -> bool:
        if action in self._open:
            return True
        target = {"project_id": caller.project}
        return self._rules[action].allows(caller, target, self._rules)

    def enforce(self, action: str, caller: Caller) -> None:
        """Return if the caller may run the action; 403 `Not authorized` otherwise."""
        if not self.allows(action, caller):
            raise errors.NotAuthorized(DENIED)

    def _check_references(self) -> None:
        """Refuse a reference to a rule that does not exist, and a rule that refers to itself."""
        done: set[str] = set()

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name in path:
                raise PolicyError(f"rule {name!r} refers to itself through {' -> '.join(path)}")
            if name in done:
                return
            for referred in self._rules[name].references():
                if referred not in self._rules:
                    raise PolicyError(
                        f"rule {name!r} refers to rule {referred!r}, which is not defined"
                    )
                visit(referred, (*path, name))
            done.add(name)

        for name in self._rules:
            visit(name, ())


def load_policy(path: str) -> Policy:
    """The default rules with a policy file's over them; an empty path means the defaults alone.

    The file is oslo.policy's: YAML (or JSON) mapping names to rules. Any fault
    is a ConfigError of one line naming the file."""
    if not path:
        return Policy()
    try:
        with open(path, encoding="utf-8") as f:
            document = yaml.safe_load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read policy file {path}: {exc.strerror or exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"policy file {path} is not YAML or JSON: {_one_line(exc)}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(f"policy file {path} must map rule names to rules")
    try:
        return Policy(document)
    except PolicyError as exc:
        raise ConfigError(f"policy file {path}: {exc}") from None


def _one_line(exc: Exception) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        return f"line {exc.problem_mark.line + 1}: {exc.problem}"
    return " ".join(str(exc).split())
