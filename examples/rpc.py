"""Request and reply over Herald: a requester posts to a request queue and long-polls its
own reply queue; a responder long-polls the request queue with a claim, answers, deletes.

    herald serve &                                             # 127.0.0.1:8888, noauth
    python examples/rpc.py responder &                         # serves until stopped
    python examples/rpc.py requester --count 5                 # prints each answer
    python examples/rpc.py demo --count 5                      # both in one process

Only the standard library is used: any HTTP/1.1 client that keeps its connection open
does the same. Each request carries the name of the queue to answer on and an id the
answer echoes, so many requesters can share one request queue.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import sys
import threading
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

REQUESTS = "rpc-requests"
WAIT = 20
CLAIM = {"ttl": 60, "grace": 60}


class Herald:
    """One keep-alive connection to Herald's HTTP API for one project."""

    def __init__(self, url: str, project: str) -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)
        self.headers = {
            "Client-ID": str(uuid.uuid4()),
            "X-Project-ID": project,
            "Content-Type": "application/json",
        }

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        self.connection.request(method, path, body=data, headers=self.headers)
        answer = self.connection.getresponse()
        raw = answer.read()
        return answer.status, json.loads(raw) if raw else None

    def post(self, queue: str, body: Any) -> None:
        status, answer = self.call(
            "POST", f"/v2/queues/{queue}/messages", {"messages": [{"body": body, "ttl": 300}]}
        )
        if status != 201:
            raise RuntimeError(f"post to {queue}: {status} {answer}")

    def take(self, queue: str) -> dict[str, Any] | None:
        """Claim one message, waiting up to WAIT seconds for it; delete it; its body."""
        status, answer = self.call("POST", f"/v2/queues/{queue}/claims?wait={WAIT}&limit=1", CLAIM)
        if status == 204:
            return None
        if status != 201:
            raise RuntimeError(f"claim on {queue}: {status} {answer}")
        (message,) = answer["messages"]
        # Deleting with the claim id (in the href) is the acknowledgement: until then a
        # responder that dies leaves the request to be claimed again when the claim ends.
        self.call("DELETE", message["href"])
        body: dict[str, Any] = message["body"]
        return body

    def close(self) -> None:
        self.connection.close()


def answer_of(question: Any) -> Any:
    """What the responder computes: here, the sum of a list of numbers."""
    return sum(question)


def respond(url: str, project: str, stop: threading.Event) -> None:
    herald = Herald(url, project)
    try:
        while not stop.is_set():
            request = herald.take(REQUESTS)
            if request is None:
                continue
            reply = {"id": request["id"], "answer": answer_of(request["question"])}
            herald.post(request["reply_to"], reply)
    finally:
        herald.close()


def request(url: str, project: str, count: int) -> list[float]:
    """Ask `count` questions one after the other; each round trip's seconds."""
    herald = Herald(url, project)
    reply_to = f"rpc-replies-{uuid.uuid4().hex[:12]}"
    took = []
    try:
        for n in range(count):
            question = [n, n + 1, n + 2]
            asked = {"id": uuid.uuid4().hex, "reply_to": reply_to, "question": question}
            began = time.perf_counter()
            herald.post(REQUESTS, asked)
            while (reply := herald.take(reply_to)) is None or reply["id"] != asked["id"]:
                pass  # a wait that ran out, or a late answer to an earlier question
            took.append(time.perf_counter() - began)
            print(f"{question} -> {reply['answer']} in {took[-1] * 1000:.1f} ms", flush=True)
        herald.call("DELETE", f"/v2/queues/{reply_to}")
    finally:
        herald.close()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("role", choices=["requester", "responder", "demo"])
    parser.add_argument("--url", default="http://127.0.0.1:8888")
    parser.add_argument("--project", default="rpc-example")
    parser.add_argument("--count", type=int, default=5)
    args = parser.parse_args()
    stop = threading.Event()
    if args.role == "responder":
        with contextlib.suppress(KeyboardInterrupt):
            respond(args.url, args.project, stop)
        return
    if args.role == "demo":
        threading.Thread(target=respond, args=(args.url, args.project, stop), daemon=True).start()
    took = request(args.url, args.project, args.count)
    took.sort()
    print(f"{len(took)} round trips, median {took[len(took) // 2] * 1000:.1f} ms", file=sys.stderr)


if __name__ == "__main__":
    main()
