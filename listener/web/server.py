"""The HTTP server under the API: aiohttp's own refusals in the API's words.

When aiohttp's parser refuses a request (a request line over 8 kB, a NUL or a bad byte in a
header, broken chunked framing), no middleware runs: aiohttp answers itself, with the
parser's message in a plain-text 400, and logs the traceback, and both quote the raw request
bytes, a ``?token=`` or an ``Authorization`` header included (issue 15). ``ApiRunner`` serves
the app through a request handler whose ``handle_error`` answers in the API's JSON envelope
with a fixed reason per kind of refusal, logs one structured line without any request bytes,
and counts it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from typing import Any

from aiohttp import http_exceptions as hx
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from listener.core.logs import event, scrub
from listener.core.output import to_json

log = logging.getLogger("atlas_orch.api")

# refusals by code since the process started (every one is also a log line)
REFUSED: Counter[str] = Counter()

# Seconds a new connection has to deliver its first request's headers (nginx's
# client_header_timeout is 60 s too). aiohttp waits for ever: a client that connected and sent
# nothing, or sent its request line a byte at a time (slowloris), held its socket for good,
# and enough of them exhaust the process's file descriptors.
HEADER_TIMEOUT_S = 60.0
_TIMED_OUT = (b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
              b"Connection: close\r\nContent-Length: %d\r\n\r\n%s")

# (exception class, code, reason): the first match wins, so subclasses come first. The reason
# is fixed text: the exception's own message quotes the request bytes.
_PARSE_ERRORS: tuple[tuple[type[BaseException], str, str], ...] = (
    (hx.LineTooLong, "too_long",
     "the request line or a header is longer than the server accepts (8190 bytes)"),
    (hx.InvalidHeader, "bad_header",
     "a header name or value holds characters HTTP does not allow"),
    (hx.BadHttpMethod, "bad_request_line", "the request method is not valid HTTP"),
    (hx.BadStatusLine, "bad_request_line", "the request line is not valid HTTP"),
    (hx.InvalidURLError, "bad_target", "the request target is not a valid URL"),
    (hx.DecompressSizeError, "too_large", "the body decompresses to more than is accepted"),
    (hx.ContentEncodingError, "bad_encoding", "the body does not match its Content-Encoding"),
    (hx.TransferEncodingError, "bad_framing", "the body's chunked framing is invalid"),
    (hx.ContentLengthError, "bad_framing", "the body is shorter than its Content-Length"),
)


def parse_refusal(exc: BaseException | None) -> tuple[str, str]:
    """The code and the reason to give for a request aiohttp's parser refused.

    For other parse errors the reason is the first line of the parser's message (llhttp's
    fixed description, such as "Invalid header value char"); the lines after it quote the
    request, so they are dropped, and what is left is redacted all the same."""
    for kind, code, reason in _PARSE_ERRORS:
        if isinstance(exc, kind):
            return code, reason
    message = exc.message if isinstance(exc, hx.HttpProcessingError) else ""
    first = str(message).splitlines()[0].rstrip(": ") if message else ""
    if not first or "'" in first or '"' in first:    # quotes: request bytes in the line
        first = "the request is not valid HTTP"
    return "bad_request", scrub(first[:120])


def envelope_error(status: int, code: str, message: str) -> web.Response:
    """The API's error answer: ``{"success": false, "error": {"code", "message"}}``."""
    return web.Response(text=to_json({"success": False, "error": {"code": code,
                                                                "message": message}}),
                        status=status, content_type="application/json")


class _ApiRequestHandler(RequestHandler):
    """aiohttp's protocol handler with its error answer replaced (see the module doc), and
    a connection that has not sent its first request's headers within the header timeout
    answered 408 and closed."""

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the connection's clock for its first request's headers."""
        super().connection_made(transport)
        timeout = getattr(self._manager, "header_timeout_s", HEADER_TIMEOUT_S)
        self._header_timer = asyncio.get_running_loop().call_later(timeout,
                                                                   self._header_timeout)

    def connection_lost(self, exc: BaseException | None) -> None:
        """Stop the clock with the connection."""
        if self._header_timer is not None:
            self._header_timer.cancel()
        super().connection_lost(exc)

    def _header_timeout(self) -> None:
        transport = self.transport
        if self._request_count or transport is None or transport.is_closing():
            return
        REFUSED["header_timeout"] += 1
        event(log, "http_header_timeout", level=logging.INFO,
              count=REFUSED["header_timeout"])
        body = to_json({"success": False, "error": {
            "code": "request_timeout",
            "message": "no complete request headers arrived in time; connection closed"}})
        transport.write(_TIMED_OUT % (len(body.encode()), body.encode()))
        transport.close()

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        """Answer a request that failed outside the app (parser refusals, or an error while
        an answer was being sent): JSON envelope, no request bytes, one log line."""
        if request.writer.output_size > 0:
            # an answer is already on the wire: aiohttp's contract is to raise here
            raise ConnectionError("an answer was already sent; cannot send the error")
        if status >= 500:
            incident = uuid.uuid4().hex[:12]
            REFUSED["internal"] += 1
            event(log, "http_internal_error", level=logging.ERROR, incident=incident,
                  error=type(exc).__name__ if exc else None, detail=scrub(str(exc))[:300],
                  count=REFUSED["internal"])
            resp = envelope_error(500, "internal",
                                  f"internal error (incident {incident}); see the log")
        else:
            code, reason = parse_refusal(exc)
            REFUSED[code] += 1
            # a first request that is not HTTP at all is scanner noise: debug, as aiohttp does
            level = (logging.DEBUG if isinstance(exc, hx.BadHttpMethod)
                     and self._request_count == 1 else logging.INFO)
            event(log, "http_refused", level=level, status=status, code=code, reason=reason,
                  error=type(exc).__name__ if exc else None, count=REFUSED[code])
            resp = envelope_error(status, code, f"malformed request: {reason}")
        resp.force_close()
        return resp


    def log_exception(self, *args: Any, **kw: Any) -> None:
        """A client's unreadable body (a Content-Encoding it does not match), met again when
        aiohttp drains it after the answer, is the client's fault, already answered 400 and
        counted: one info line, not an error with a traceback. Anything else as aiohttp
        logs it (through the redacting formatter)."""
        exc = kw.get("exc_info")
        if isinstance(exc, web.RequestPayloadError):
            REFUSED["unread_body"] += 1
            event(log, "http_body_unread", error=type(exc).__name__,
                  count=REFUSED["unread_body"])
            return
        super().log_exception(*args, **kw)


class _ApiServer(web.Server):
    """aiohttp's low-level server, making connections with ``_ApiRequestHandler``."""

    header_timeout_s: float = HEADER_TIMEOUT_S

    def __init__(self, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._handler_kwargs = {k: v for k, v in kwargs.items()
                                if k not in ("request_factory", "handler_cancellation",
                                             "loop")}

    def __call__(self) -> RequestHandler:
        return _ApiRequestHandler(self, loop=asyncio.get_running_loop(),
                                  **self._handler_kwargs)


class ApiRunner(web.AppRunner):
    """``web.AppRunner`` whose server answers parse errors in the API's envelope and closes
    connections that send no request headers within ``header_timeout_s``."""

    def __init__(self, app: web.Application, *, header_timeout_s: float = HEADER_TIMEOUT_S,
                 **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.header_timeout_s = header_timeout_s

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        # the same server, built again with our handler class: Application._make_handler
        # passes these (debug, access_log_class, the runner's keywords) to Server
        server = _ApiServer(plain.request_handler, request_factory=plain.request_factory,
                            handler_cancellation=plain.handler_cancellation,
                            **plain._kwargs)
        server.header_timeout_s = self.header_timeout_s
        return server

