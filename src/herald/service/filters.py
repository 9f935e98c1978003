"""SNS filter policies over message bodies: `options.filter_policy`, checked once, matched fast.

A policy is a JSON object. A key whose value is an object reaches into the
body's object of that name; a key whose value is a list holds conditions, any
one of which may match (OR), while every key must match (AND). A list in the
body matches when any of its elements does. Matching is typed, as in SNS: the
policy `[5]` matches `5` and `5.0` but not `"5"`, and `[true]` never matches `1`.

Conditions: a string, number, `true`, `false` or `null` (exact match);
`{"prefix": s}`, `{"suffix": s}`, `{"equals-ignore-case": s}`;
`{"anything-but": v}` with a string or number, a list of them, or
`{"prefix": s}` / `{"suffix": s}`; `{"numeric": ["<", 10]}` with one
comparison or a lower and an upper one (`[">=", 0, "<", 10]`); and
`{"exists": true|false}`. A body that is not a JSON object matches only the
empty policy, which matches everything.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any, Final

import msgspec

from herald.errors import InvalidRequest

# SNS's documented limits on a filter policy (Amazon SNS developer guide,
# "Filter policy constraints"): at most five top-level keys when filtering the
# message body, at most 150 combinations (the product of the lengths of every
# condition list), at most 256 KB of JSON, and numbers from -10^9 to 10^9.
MAX_KEYS: Final = 5
MAX_COMBINATIONS: Final = 150
MAX_POLICY_BYTES: Final = 256 * 1024
MAX_NUMBER: Final = 1e9
# Herald's own bound, not SNS's: SNS documents none, and a deeper policy would
# exhaust the interpreter's stack while being compiled.
MAX_DEPTH: Final = 16

_RANGE_OPERATORS: Final[dict[str, Callable[[float, float], bool]]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_LOWER: Final = frozenset({">", ">="})
_UPPER: Final = frozenset({"<", "<="})
_encode = msgspec.json.Encoder().encode


class FilterPolicy:
    """A compiled filter policy; `matches(body)` says whether a message body passes it."""

    __slots__ = ("_leaves",)

    def __init__(self, leaves: Sequence[_Leaf]) -> None:
        self._leaves = tuple(leaves)

    def matches(self, body: Any) -> bool:
        """Whether every key of the policy finds a matching value in the body."""
        if not self._leaves:
            return True
        if not isinstance(body, dict):
            return False
        return all(leaf.matches(body) for leaf in self._leaves)

    def __repr__(self) -> str:
        return f"FilterPolicy({[leaf.path for leaf in self._leaves]!r})"


def compile_policy(document: Any) -> FilterPolicy:
    """Check a filter policy against SNS's rules and limits, and compile it for matching.

    Raises InvalidRequest naming the key and the rule broken."""
    if not isinstance(document, dict):
        raise _invalid("must be a JSON object")
    if len(document) > MAX_KEYS:
        raise _invalid(f"may have at most {MAX_KEYS} top-level keys, not {len(document)}")
    if len(_encode(document)) > MAX_POLICY_BYTES:
        raise _invalid(f"may be at most {MAX_POLICY_BYTES} bytes of JSON")
    leaves: list[_Leaf] = []
    _collect(document, (), leaves)
    combinations = math.prod(leaf.conditions for leaf in leaves)
    if combinations > MAX_COMBINATIONS:
        raise _invalid(
            f"has {combinations} combinations of values (the product of the lengths of "
            f"its condition lists); at most {MAX_COMBINATIONS} are allowed"
        )
    return FilterPolicy(leaves)


# Compiling


def _collect(node: dict[str, Any], path: tuple[str, ...], leaves: list[_Leaf]) -> None:
    if len(path) >= MAX_DEPTH:
        raise _invalid(f"may nest keys at most {MAX_DEPTH} deep", path)
    for key, value in node.items():
        here = (*path, key)
        if isinstance(value, dict):
            if not value:
                raise _invalid("must not be an empty object", here)
            _collect(value, here, leaves)
        elif isinstance(value, list):
            if not value:
                raise _invalid("must not be an empty list", here)
            leaves.append(_Leaf(here, [_condition(item, here) for item in value]))
        else:
            raise _invalid("must be a list of conditions or an object of keys", here)


def _condition(item: Any, path: tuple[str, ...]) -> _Condition:
    if not isinstance(item, dict):
        return _Exact(_literal(item, path))
    if len(item) != 1:
        raise _invalid(
            "a condition object must hold exactly one operator, such as "
            '{"prefix": "a"}; use separate conditions in the list for OR',
            path,
        )
    ((name, argument),) = item.items()
    if name in ("prefix", "suffix", "equals-ignore-case"):
        text = _text(name, argument, path)
        if name == "prefix":
            return _StringTest(lambda value: value.startswith(text))
        if name == "suffix":
            return _StringTest(lambda value: value.endswith(text))
        folded = text.casefold()
        return _StringTest(lambda value: value.casefold() == folded)
    if name == "anything-but":
        return _anything_but(argument, path)
    if name == "numeric":
        return _numeric(argument, path)
    if name == "exists":
        if not isinstance(argument, bool):
            raise _invalid('"exists" takes true or false', path)
        return _Exists(argument)
    raise _invalid(
        f"unknown operator {name!r}; the operators are prefix, suffix, equals-ignore-case, "
        "anything-but, numeric and exists",
        path,
    )


def _literal(item: Any, path: tuple[str, ...]) -> _Literal:
    if item is None or isinstance(item, (str, bool)):
        return _Literal(item)
    if isinstance(item, (int, float)):
        return _Literal(_number(item, path))
    raise _invalid("a condition must be a string, number, true, false, null or an object", path)


def _number(item: int | float, path: tuple[str, ...]) -> float:
    if not -MAX_NUMBER <= item <= MAX_NUMBER:
        raise _invalid(f"numbers must be from {-MAX_NUMBER:.0f} to {MAX_NUMBER:.0f}", path)
    return float(item)


def _text(name: str, argument: Any, path: tuple[str, ...]) -> str:
    if not isinstance(argument, str) or not argument:
        raise _invalid(f'"{name}" takes a non-empty string', path)
    return argument


def _anything_but(argument: Any, path: tuple[str, ...]) -> _Condition:
    if isinstance(argument, dict):
        if len(argument) == 1 and next(iter(argument)) in ("prefix", "suffix"):
            ((name, text),) = argument.items()
            text = _text(f"anything-but {name}", text, path)
            if name == "prefix":
                return _StringTest(lambda value: not value.startswith(text))
            return _StringTest(lambda value: not value.endswith(text))
        raise _invalid('"anything-but" takes only {"prefix": ...} or {"suffix": ...}', path)
    values = argument if isinstance(argument, list) else [argument]
    if not values:
        raise _invalid('"anything-but" needs at least one value', path)
    kinds = {_kind(value) for value in values}
    if kinds not in ({"string"}, {"number"}):
        raise _invalid('"anything-but" takes strings only or numbers only', path)
    return _AnythingBut([_literal(value, path) for value in values])


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "number"
    return "other"


def _numeric(argument: Any, path: tuple[str, ...]) -> _Condition:
    usage = (
        '"numeric" takes ["=", n], one comparison like ["<", n], or a range like [">", a, "<=", b]'
    )
    if not isinstance(argument, list) or len(argument) not in (2, 4):
        raise _invalid(usage, path)
    comparisons: list[tuple[str, float]] = []
    for symbol, bound in zip(argument[::2], argument[1::2], strict=True):
        if symbol not in _RANGE_OPERATORS or _kind(bound) != "number":
            raise _invalid(usage, path)
        comparisons.append((symbol, _number(bound, path)))
    if len(comparisons) == 2:
        (low_op, low), (high_op, high) = comparisons
        if low_op not in _LOWER or high_op not in _UPPER:
            raise _invalid(
                'a "numeric" range is a lower bound (> or >=) then an upper (< or <=)', path
            )
        if not low < high:
            raise _invalid('a "numeric" range needs its lower bound below its upper one', path)
    return _Numeric([(_RANGE_OPERATORS[symbol], bound) for symbol, bound in comparisons])


def _invalid(problem: str, path: tuple[str, ...] = ()) -> InvalidRequest:
    where = f" key {'.'.join(path)!r}" if path else ""
    return InvalidRequest(f"options.filter_policy{where}: {problem}.")


# Matching
#
# Written for speed over elegance: a policy is matched against every message
# of its queue, so exact values are looked up in sets by type, and the common
# shapes (a top-level key, a scalar value) avoid building lists.

_MISSING: Final = object()


def _values(body: dict[str, Any], path: tuple[str, ...]) -> Sequence[Any]:
    """Every value the path reaches in the body, with lists flattened at each step."""
    if len(path) == 1:
        value = body.get(path[0], _MISSING)
        if value is _MISSING:
            return ()
        if type(value) is list:
            flat: list[Any] = []
            _flatten_into(value, flat)
            return flat
        return (value,)
    current: list[Any] = [body]
    for key in path:
        reached: list[Any] = []
        for node in current:
            if type(node) is dict:
                value = node.get(key, _MISSING)
                if value is _MISSING:
                    continue
                if type(value) is list:
                    _flatten_into(value, reached)
                else:
                    reached.append(value)
        if not reached:
            return reached
        current = reached
    return current


def _flatten_into(items: list[Any], out: list[Any]) -> None:
    for item in items:
        if type(item) is list:
            _flatten_into(item, out)
        else:
            out.append(item)


class _Literal:
    """A policy value typed as SNS types it: booleans and null are not numbers."""

    __slots__ = ("kind", "value")

    def __init__(self, value: str | float | bool | None) -> None:
        self.kind = _kind(value)
        self.value = value

    def equals(self, value: Any) -> bool:
        if self.kind == "string":
            return isinstance(value, str) and value == self.value
        if self.kind == "number":
            return _kind(value) == "number" and float(value) == self.value
        # true, false and null: identity, so that 1 is never true.
        return value is self.value


class _Condition:
    """One entry of a key's list other than an exact value: a test of each value reached."""

    __slots__ = ()

    def test(self, value: Any) -> bool:
        raise NotImplementedError


class _Exact(_Condition):
    """An exact value; leaves look these up in sets rather than testing them one by one."""

    __slots__ = ("literal",)

    def __init__(self, literal: _Literal) -> None:
        self.literal = literal


class _StringTest(_Condition):
    __slots__ = ("predicate",)

    def __init__(self, predicate: Callable[[str], bool]) -> None:
        self.predicate = predicate

    def test(self, value: Any) -> bool:
        return isinstance(value, str) and self.predicate(value)


class _AnythingBut(_Condition):
    __slots__ = ("numbers", "strings")

    def __init__(self, literals: list[_Literal]) -> None:
        self.strings = frozenset(lit.value for lit in literals if isinstance(lit.value, str))
        self.numbers = frozenset(lit.value for lit in literals if isinstance(lit.value, float))

    def test(self, value: Any) -> bool:
        # Only what can be compared with the list counts: null, booleans and
        # objects are not "anything but" a string, they are another kind of thing.
        kind = type(value)
        if kind is str:
            return value not in self.strings
        if kind is int or kind is float:
            return value not in self.numbers
        return False


class _Numeric(_Condition):
    __slots__ = ("comparisons",)

    def __init__(self, comparisons: list[tuple[Callable[[float, float], bool], float]]) -> None:
        self.comparisons = tuple(comparisons)

    def test(self, value: Any) -> bool:
        kind = type(value)
        if kind is not int and kind is not float:
            return False
        return all(compare(value, bound) for compare, bound in self.comparisons)


class _Exists(_Condition):
    """Whether the key has a value; leaves judge this once for all the values reached."""

    __slots__ = ("wanted",)

    def __init__(self, wanted: bool) -> None:
        self.wanted = wanted


class _Leaf:
    """A key path of the policy and its conditions, any of which may match: exact values
    sorted into sets by type, the other tests in order, and `exists` apart."""

    __slots__ = ("conditions", "exists", "numbers", "path", "singles", "strings", "tests")

    def __init__(self, path: tuple[str, ...], conditions: list[_Condition]) -> None:
        self.path = path
        self.conditions = len(conditions)
        strings: set[str] = set()
        numbers: set[float] = set()
        singles: list[object] = []
        tests: list[_Condition] = []
        exists: set[bool] = set()
        for condition in conditions:
            if isinstance(condition, _Exact):
                literal = condition.literal.value
                if isinstance(literal, str):
                    strings.add(literal)
                elif isinstance(literal, float):
                    numbers.add(literal)
                else:
                    singles.append(literal)
            elif isinstance(condition, _Exists):
                exists.add(condition.wanted)
            else:
                tests.append(condition)
        self.strings = frozenset(strings)
        self.numbers = frozenset(numbers)
        self.singles = tuple(singles)
        self.tests = tuple(tests)
        self.exists = frozenset(exists)

    def matches(self, body: dict[str, Any]) -> bool:
        values = _values(body, self.path)
        if self.exists:
            # SNS: the key exists when it has a value that is not null; an empty list has none.
            present = any(value is not None for value in values)
            if present in self.exists:
                return True
        for value in values:
            kind = type(value)
            if kind is str:
                if value in self.strings:
                    return True
            elif kind is int or kind is float:
                if value in self.numbers:
                    return True
            elif any(value is single for single in self.singles):
                return True
            for test in self.tests:
                if test.test(value):
                    return True
        return False
