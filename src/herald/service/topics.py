"""Topics: a project's topics are the queues of a shadow project no client can name.

Project ids may hold no control character, so `project + "\\x1ftopics"` can
only be reached through the topic routes; queue metadata, messages, the
outbox and subscriptions of topics then reuse the queue machinery unchanged.
"""

from __future__ import annotations

import msgspec

from herald.identity import Caller

_SUFFIX = "\x1ftopics"


def topic_project(project: str) -> str:
    """The shadow project holding the topics of `project`."""
    return project + _SUFFIX


def is_topic_project(project: str) -> bool:
    return project.endswith(_SUFFIX)


def owner_project(project: str) -> str:
    """The project a (possibly shadow) project id belongs to."""
    return project.removesuffix(_SUFFIX)


def as_topics(caller: Caller) -> Caller:
    """The caller acting on its project's topics: the same client, roles and proof."""
    return msgspec.structs.replace(caller, project=topic_project(caller.project))
