"""A small synchronous client of any Zaqar v2 server, raising one error per way a call fails."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

OK, REFUSED, USAGE, UNAVAILABLE = 0, 1, 2, 3
"""Exit codes: done; the server said no (4xx); bad usage or settings; unreachable or 5xx."""


class CommandFailed(Exception):
    """A command that could not be carried out: one line for the operator and an exit code."""

    def __init__(self, line: str, exit_code: int) -> None:
        super().__init__(line)
        self.line = line
        self.exit_code = exit_code


class Answer:
    """A successful response: its status, headers and JSON document (None when empty)."""

    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        self.headers = response.headers
        self.document: Any = response.json() if response.content else None


class ZaqarClient:
    """Sends each request with the identity headers of one project and client id."""

    def __init__(
        self,
        url: str,
        *,
        project: str | None = None,
        token: str | None = None,
        client_id: str | None = None,
        timeout: float = 30,
    ) -> None:
        headers = {"Client-ID": client_id or str(uuid.uuid4()), "Accept": "application/json"}
        if project:
            headers["X-Project-ID"] = project
        if token:
            headers["X-Auth-Token"] = token
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def __enter__(self) -> ZaqarClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
    ) -> Answer:
        """Send one request; a 2xx answer, or CommandFailed saying why not."""
        content = None if body is None else msgspec.json.encode(body)
        headers = {"Content-Type": "application/json"} if content is not None else {}
        query = {k: _query_value(v) for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(
                method, path, params=query, content=content, headers=headers
            )
        except httpx.TransportError as exc:
            raise CommandFailed(
                f"cannot reach {self.url}: {exc or type(exc).__name__}", UNAVAILABLE
            ) from None
        if response.is_success:
            try:
                return Answer(response)
            except ValueError:
                raise CommandFailed(
                    f"{self.url} answered {method} {path} with a body that is not JSON",
                    UNAVAILABLE,
                ) from None
        code = REFUSED if response.status_code < 500 else UNAVAILABLE
        raise CommandFailed(refusal_line(response), code)


def refusal_line(response: httpx.Response) -> str:
    """The server's status, title and description, in one line."""
    title = description = ""
    try:
        document = response.json()
        if isinstance(document, dict):
            title = str(document.get("title") or "")
            description = str(document.get("description") or "")
    except ValueError:
        pass
    title = title or response.reason_phrase
    line = (
        f"{response.status_code} {title}"
        if not title.startswith(str(response.status_code))
        else title
    )
    text = f"{line}: {description}" if description else line
    return " ".join(text.split())


def queues_path(*segments: str) -> str:
    """`/v2/queues/...` with each segment escaped, so that a name or id given on the
    command line stays one segment: `a/b`, `x?pop=5` or `..` cannot name another
    resource (a client would fold `..` into the path before sending it)."""
    escaped = [quote(s, safe="") if s.strip(".") else s.replace(".", "%2E") for s in segments]
    return "/".join(["/v2/queues", *escaped])


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)
