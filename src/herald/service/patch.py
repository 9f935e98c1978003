"""JSON-patch documents over queue metadata: parsed once, applied all or nothing."""

from __future__ import annotations

from typing import Any

from herald import errors
from herald.service.policy import is_shown_by_default

PATCH_OPS = ("add", "replace", "remove")

Step = tuple[str, str, Any]
"""One operation: (op, metadata key, value)."""


def parse_patch(patch: Any) -> list[Step]:
    """Check a JSON-patch document and reduce it to (op, key, value) steps."""
    if not isinstance(patch, list) or not patch:
        raise errors.InvalidBody("The patch document must be a non-empty JSON array.")
    steps = []
    for item in patch:
        if not isinstance(item, dict):
            raise errors.InvalidBody("Each patch operation must be a JSON object.")
        op = item.get("op")
        if op not in PATCH_OPS:
            raise errors.InvalidBody(f"The op of a patch must be one of {list(PATCH_OPS)}.")
        path = item.get("path")
        if not isinstance(path, str):
            raise errors.InvalidBody("Each patch operation needs a string path.")
        if op != "remove" and "value" not in item:
            raise errors.InvalidBody(f"The {op} operation needs a value.")
        segments = _pointer(path)
        if len(segments) != 2:
            raise errors.InvalidBody(f"The path {path!r} must be /metadata/<key>.")
        if op != "remove" and segments[0].lower() != "metadata":
            raise errors.InvalidBody(f"The path {path!r} must start with /metadata.")
        steps.append((op, segments[1], item.get("value")))
    return steps


def apply_patch(steps: list[Step], old: dict[str, Any]) -> dict[str, Any]:
    """The metadata after the steps; a 409 for replacing or removing what is not there."""
    new = dict(old)
    for op, key, value in steps:
        if op == "add":
            new[key] = value
        elif key in new:
            if op == "replace":
                new[key] = value
            else:
                del new[key]
        elif not is_shown_by_default(key):
            raise errors.Conflict(f"The metadata key {key!r} does not exist.")
        elif op == "replace":
            new[key] = value
    return new


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise errors.InvalidBody(f"The path {path!r} is not a JSON pointer.")
    out = []
    for segment in path[1:].split("/"):
        if not segment:
            raise errors.InvalidBody(f"The path {path!r} has an empty segment.")
        stripped = segment.replace("~0", "").replace("~1", "")
        if "~" in stripped:
            raise errors.InvalidBody(f"The path {path!r} has a bad ~ escape.")
        out.append(segment.replace("~1", "/").replace("~0", "~"))
    return out
