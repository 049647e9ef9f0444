"""PTB's HTTP layer on aiohttp instead of httpx.

python-telegram-bot sends through any `BaseRequest`. Its default, httpx, costs 1–2 ms of CPU per
Bot API call here (pure-Python HTTP parsing); aiohttp, which the web server already uses, costs
about 0.3 ms (`bench/throughput.py`: every question makes two or three calls). Behaviour is PTB's:
form-encoded parameters, multipart with files, and its exceptions (`TimedOut`, `NetworkError`),
so the rate limiter's retries work as before.

A call that makes something (a message, a topic) waits longer for its answer than a look-up:
when Telegram is slow, such a call has usually happened, and giving up on it early only invites
a second copy (a hanging fake, 15 s: `tests/test_send_path.py`).
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

import aiohttp
from aiohttp.payload import BytesPayload
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_TOKEN = re.compile(r"/bot[^/\s]+")
_FORM = "application/x-www-form-urlencoded"
SEND_READ_TIMEOUT = 25.0  # seconds a call that makes something waits for Telegram's answer


class NotSent(TimedOut):
    """Timed out before the request went out (no free connection, none could be opened):
    safe to make again."""


# Calls that make something new each time they are made: one that timed out may still have
# happened at Telegram, so it is never simply made again (bot.telegram.ratelimit).
MAKERS = frozenset({"copyMessage", "copyMessages", "forwardMessage", "forwardMessages",
                    "createForumTopic"})


def makes_something(endpoint: str) -> bool:
    return endpoint in MAKERS or (endpoint.startswith("send") and endpoint != "sendChatAction")


def _makes_something(url: str) -> bool:
    return makes_something(url.rsplit("/", 1)[-1])


class AiohttpRequest(BaseRequest):
    """One aiohttp client session with a pool of `connection_pool_size` connections.

    Timeouts as HTTPXRequest's defaults: 5 s to connect, 5 s to read, 1 s to wait for a free
    connection; a call that makes something waits `send_read_timeout` for its answer. aiohttp
    has no write timeout; a stuck write ends at the read timeout."""

    __slots__ = ("_connect", "_pool", "_pool_size", "_read", "_send_read", "_session")

    def __init__(self, connection_pool_size: int = 1, *, read_timeout: float | None = 5.0,
                 connect_timeout: float | None = 5.0, pool_timeout: float | None = 1.0,
                 send_read_timeout: float | None = SEND_READ_TIMEOUT) -> None:
        self._pool_size = connection_pool_size
        self._read, self._connect, self._pool = read_timeout, connect_timeout, pool_timeout
        self._send_read = send_read_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        """Open the client session (inside the running loop, as aiohttp requires)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        if isinstance(read_timeout, DefaultValue):
            read = self._send_read if _makes_something(url) else self._read
        else:
            read = read_timeout
        connect = self._connect if isinstance(connect_timeout, DefaultValue) \
            else connect_timeout
        pool = self._pool if isinstance(pool_timeout, DefaultValue) else pool_timeout
        # aiohttp's `connect` covers waiting for a pooled connection and opening it.
        timeout = aiohttp.ClientTimeout(
            total=None, sock_read=read, sock_connect=connect,
            connect=None if pool is None or connect is None else pool + connect,
        )
        try:
            async with self._session.request(method, url, data=_body(request_data),
                                             timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            if isinstance(exc, aiohttp.ConnectionTimeoutError):
                raise NotSent("Pool timeout: no free connection, or none could be opened; "
                              "the request was not sent") from exc
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            # Some aiohttp errors quote the URL, and the URL holds the token.
            raise NetworkError(f"aiohttp.{type(exc).__name__}: "
                               + _TOKEN.sub("/bot<token>", str(exc))) from None


def _body(request_data: RequestData | None) -> BytesPayload | aiohttp.FormData | None:
    """Form fields as PTB encodes them; multipart when files go with them. Without files the
    body aiohttp's FormData would make of them, made directly: given the fields, aiohttp first
    looked for a payload type for a dict, then built a multipart writer (a random boundary) to
    find that none was needed, a tenth of a Bot API call's CPU."""
    if request_data is None:
        return None
    fields = request_data.json_parameters
    files = request_data.multipart_data
    if not files:
        return BytesPayload(urlencode(fields, doseq=True).encode(), content_type=_FORM) \
            if fields else None
    form = aiohttp.FormData(fields)
    for name, (filename, content, mime_type) in files.items():
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return form
