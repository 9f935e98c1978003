"""One WebSocket connection: read a frame, answer it, and push what its subscriptions ask for.

Frames are answered one at a time, in order; a frame that is not a request
gets a 400 frame and the socket stays open. Identity is decided for every
frame by the same identity step as HTTP's, from the frame's headers and the
credentials `authenticate` left with the connection; so a revoked key or
token stops working here when it stops working over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from herald import errors
from herald.app import Herald
from herald.identity import Caller, Presented
from herald.service import Abandoned, check_queue_name
from herald.service.push import PushSubscription
from herald.transport.codes import public_form
from herald.transport.websocket.actions import ACTIONS, Answer, Call
from herald.transport.websocket.frames import (
    CREDENTIALS,
    BadFrame,
    Encoding,
    Request,
    body_of,
    decode_part,
    decode_request,
    echo_of,
    encode_document,
    encode_reply,
    lower_headers,
)
from herald.transport.websocket.shapes import notification

log = logging.getLogger("herald")

AUTH_EXPIRED = 4003
PUSH_OVERFLOW = 4008
IDLE_CLOSE = 1000
PUSH_PAUSE = 1.0
"""Seconds between listings of a push subscription when long polls are switched off."""


class Closed(Exception):
    """The socket is closed or closing: stop reading it."""


class Connection:
    """The state of one socket: its credentials, its push subscriptions, its outbox."""

    def __init__(self, herald: Herald, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.herald = herald
        self.service = herald.service
        self.settings = herald.settings.websocket
        self._receive = receive
        self._send = send
        self._credentials: dict[str, str] = {}
        self._expiry: asyncio.TimerHandle | None = None
        self._subscriptions: dict[str, tuple[PushSubscription, Caller, asyncio.Task[None]]] = {}
        # Made by the first push: most sockets never need one.
        self._outbox: asyncio.Queue[tuple[int, dict[str, Any]]] | None = None
        self._backlog = 0
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        # An event read while a long poll waited, answered after it.
        self._stashed: dict[str, Any] | None = None

    async def serve(self) -> None:
        event = await self._receive()
        if event["type"] != "websocket.connect":
            return
        await self._send({"type": "websocket.accept"})
        self.service.events.websocket_opened()
        try:
            while not self._closing:
                event = await self._next_event()
                if event is None:
                    await self.close(IDLE_CLOSE, "Idle for too long.")
                    break
                if event["type"] == "websocket.disconnect":
                    break
                self.service.events.websocket_frame("received")
                text = event.get("text")
                if text is not None:
                    await self._answer(text.encode(), Encoding.JSON)
                else:
                    await self._answer(event.get("bytes") or b"", Encoding.MSGPACK)
        except Closed:
            pass
        finally:
            self.service.events.websocket_closed()
            await self._end()

    async def _next_event(self) -> dict[str, Any] | None:
        """The next event from the client; None when it sent nothing for `idle_timeout`
        seconds while no subscription keeps it waiting for pushes."""
        event: dict[str, Any] | None = self._stashed
        if event is not None:
            self._stashed = None
            return event
        if self._subscriptions:
            event = await self._receive()
            return event
        try:
            async with asyncio.timeout(self.settings.idle_timeout):
                event = await self._receive()
                return event
        except TimeoutError:
            return None

    async def close(self, code: int, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        with contextlib.suppress(Exception):
            await self._send({"type": "websocket.close", "code": code, "reason": reason})

    async def _end(self) -> None:
        """Stop the subscriptions and the writer; the connection ends once they have."""
        self._closing = True
        if self._expiry is not None:
            self._expiry.cancel()
        tasks = [task for _, _, task in self._subscriptions.values()]
        if self._writer is not None:
            tasks.append(self._writer)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._subscriptions.clear()

    # Answering requests

    async def _answer(self, data: bytes, encoding: Encoding) -> None:
        request: Request | None = None
        try:
            request = decode_request(data, encoding)
            answer = await self._run(request, encoding)
        except errors.HeraldError as exc:
            self.service.watch.saw(exc)
            answer = error_answer(exc)
        except Abandoned:
            raise Closed from None
        except Exception:
            log.exception("unexpected error answering a WebSocket frame")
            answer = error_answer(
                errors.HeraldError("An unexpected error prevented the server from answering.")
            )
        echo = None if request is None else echo_of(request, encoding)
        frame = encode_reply(echo, answer.status, answer.document, encoding)
        await self._write(frame, encoding)

    async def _run(self, request: Request, encoding: Encoding) -> Answer:
        if request.action == "authenticate":
            return await self._authenticate(request)
        entry = ACTIONS.get(request.action)
        if entry is None:
            raise BadFrame(
                f"{request.action} is not a valid action; get_home_doc lists the actions."
            )
        body = decode_part(body_of(request, encoding), entry.body, encoding)
        presented = self._presented(request, entry.method, entry.path(body))
        identify = self.herald.identify
        # As over HTTP: a pre-signed frame is judged before anything else in it.
        identify.screen(presented)
        caller = await identify(presented)
        if entry.queue:
            check_queue_name(body.queue_name)  # type: ignore[attr-defined]
        return await entry.run(Call(self.service, caller, encoding, self, self._gone), body)

    async def _gone(self) -> None:
        """Return once the client has gone: what a long poll waits for beside its messages.

        A frame that comes meanwhile is kept to be answered next, and nothing more is
        read until then, so a client cannot pile up frames behind a waiting one."""
        event = await self._receive()
        self._stashed = event
        if event["type"] != "websocket.disconnect":
            await asyncio.Event().wait()

    def _presented(self, request: Request, method: str, path: str) -> Presented:
        headers = lower_headers(request)
        if not CREDENTIALS & headers.keys():
            headers.update(self._credentials)
        return Presented(method, path, headers)

    async def _authenticate(self, request: Request) -> Answer:
        """Check the frame's credentials and keep them for the frames that follow."""
        headers = lower_headers(request)
        presented = Presented("GET", "/v2/", headers)
        identify = self.herald.identify
        identify.screen(presented)
        caller = await identify(presented)
        self._credentials = {name: headers[name] for name in CREDENTIALS if name in headers}
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if caller.expires is not None:
            left = max(caller.expires - time.time(), 0.0)
            self._expiry = asyncio.get_running_loop().call_later(left, self._expired)
        return Answer(200, {"message": "Authentified."})

    def _expired(self) -> None:
        self._expiry = None
        self._credentials = {}
        # A task, not a wait here: a timer callback cannot await the close frame.
        self._spawn(self.close(AUTH_EXPIRED, "Authentication expired."))

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def _write(self, frame: bytes, encoding: Encoding) -> None:
        if self._closing:
            raise Closed
        try:
            await self._send(send_event(frame, encoding))
        except Exception:
            raise Closed from None
        self.service.events.websocket_frame("sent")

    # Push subscriptions (the `Subscriptions` of actions.py)

    async def subscribe(
        self, caller: Caller, queue: str, ttl: int | None, encoding: Encoding
    ) -> str:
        subscription = await self.service.push.subscribe(caller, queue, ttl)
        task = asyncio.create_task(self._push(caller, subscription, encoding))
        self._subscriptions[subscription.id] = (subscription, caller, task)
        return subscription.id

    async def listing(self, caller: Caller, queue: str) -> list[dict[str, Any]]:
        mine = [s for s, _, _ in self._subscriptions.values() if s.queue == queue]
        return await self.service.push.views(caller, mine)

    async def get(self, caller: Caller, queue: str, subscription_id: str) -> dict[str, Any]:
        return await self.service.push.view(caller, self._subscription(queue, subscription_id))

    async def update(
        self, caller: Caller, queue: str, subscription_id: str, ttl: int | None
    ) -> None:
        await self.service.push.renew(caller, self._subscription(queue, subscription_id), ttl)

    async def cancel(self, caller: Caller, queue: str, subscription_id: str) -> None:
        await self.service.push.may_cancel(caller)
        found = self._subscriptions.get(subscription_id)
        if found is not None and found[0].queue == queue:
            del self._subscriptions[subscription_id]
            found[2].cancel()

    def _subscription(self, queue: str, subscription_id: str) -> PushSubscription:
        found = self._subscriptions.get(subscription_id)
        if found is None or found[0].queue != queue or self.service.push.expired(found[0]):
            raise errors.NotFound(f"Subscription {subscription_id} does not exist.")
        return found[0]

    async def _push(
        self, caller: Caller, subscription: PushSubscription, encoding: Encoding
    ) -> None:
        """List the queue after the subscription's marker, waiting for new messages, and
        put each in the outbox; end when the subscription does, or the reader falls behind."""
        push = self.service.push
        wait = float(self.service.limits.max_wait)
        self.service.events.push_began()
        try:
            while not push.expired(subscription) and not self._closing:
                try:
                    found = await push.next_messages(caller, subscription, wait)
                except errors.HeraldError as exc:
                    self.service.watch.saw(exc)
                    if exc.code in ("not_authorized", "not_authenticated"):
                        return
                    if not isinstance(exc, errors.StoreUnavailable):
                        # An outage has its own two lines, from the watch.
                        log.info("push listing of %s failed; retrying: %s", subscription.queue, exc)
                    found = []
                    await asyncio.sleep(PUSH_PAUSE)
                if found and not self._queue_page(subscription.queue, found, encoding):
                    return
                if not found and not wait:
                    await asyncio.sleep(PUSH_PAUSE)
        finally:
            self.service.events.push_ended()
            self._subscriptions.pop(subscription.id, None)

    def _queue_page(self, queue: str, found: list[Any], encoding: Encoding) -> bool:
        """Put a page of notifications in the outbox; False (and the socket told and closed)
        when more than `push_backlog` bytes still wait there for a reader that does not
        read. The outbox so holds at most the backlog and one page."""
        if self._backlog > self.settings.push_backlog:
            log.info("closing a WebSocket whose reader fell %d bytes behind", self._backlog)
            self._spawn(self._overflow(encoding))
            return False
        if self._outbox is None:
            self._outbox = asyncio.Queue()
            self._writer = asyncio.create_task(self._drain(self._outbox))
        for message in found:
            frame = encode_document(notification(queue, message), encoding)
            self._backlog += len(frame)
            self._outbox.put_nowait((len(frame), send_event(frame, encoding)))
        return True

    async def _drain(self, outbox: asyncio.Queue[tuple[int, dict[str, Any]]]) -> None:
        while True:
            size, event = await outbox.get()
            try:
                await self._send(event)
            except Exception:
                return
            finally:
                self._backlog -= size
            self.service.events.websocket_frame("sent")

    async def _overflow(self, encoding: Encoding) -> None:
        if self._closing:
            return
        notice = encode_document(
            {
                "Message_Type": "Overflow",
                "error": f"More than {self.settings.push_backlog} bytes of notifications "
                "waited for this socket to read them; it is closed. Reconnect, and list "
                "the queue from your last message's id.",
            },
            encoding,
        )
        # Ahead of the backlog: the reader is told before anything else it has not read.
        key = "text" if encoding is Encoding.JSON else "bytes"
        with contextlib.suppress(Exception):
            await self._send(
                {"type": "websocket.send", key: notice.decode() if key == "text" else notice}
            )
        await self.close(PUSH_OVERFLOW, "Push backlog exceeded.")


def error_answer(error: errors.HeraldError) -> Answer:
    status, title, description = public_form(error)
    return Answer(
        status, {"error": description or title, "title": title, "description": description}
    )


_background: set[asyncio.Future[Any]] = set()


def send_event(frame: bytes, encoding: Encoding) -> dict[str, Any]:
    """The ASGI event that sends a frame: text for JSON, binary for MessagePack."""
    if encoding is Encoding.JSON:
        return {"type": "websocket.send", "text": frame.decode()}
    return {"type": "websocket.send", "bytes": frame}
