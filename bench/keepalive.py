"""A small HTTP/1.1 keep-alive client on asyncio streams, for the load generator of the flows.

Why not a library: the load generator must cost far less CPU than the server it measures, and
requests/httpx spend more per request than a Flask endpoint does. This client does only what the
benchmark needs: one persistent connection per virtual user, Content-Length and chunked bodies,
cookies by name (every path), form posts. Loopback only.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit


class HttpError(Exception):
    """The server closed the connection or answered something we cannot parse."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names; Set-Cookie values joined by "\n"
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Connection:
    """One keep-alive connection to ``host:port``, with the cookies of one browser-like user."""

    host: str
    port: int
    cookies: dict[str, str] = field(default_factory=dict)
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, target: str, *, form: dict[str, str] | None = None,
                      headers: dict[str, str] | None = None) -> Response:
        """Send one request (reconnecting once if the server closed the idle connection)."""
        body = urlencode(form).encode() if form is not None else b""
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        if form is not None:
            lines.append("Content-Type: application/x-www-form-urlencoded")
        if self.cookies:
            lines.append("Cookie: " + self.cookie_header())
        lines.extend(f"{k}: {v}" for k, v in (headers or {}).items())
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        for attempt in (1, 2):
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            try:
                self._writer.write(raw)
                response = await self._read()
                break
            except (ConnectionError, asyncio.IncompleteReadError, HttpError):
                self.close()
                if attempt == 2:
                    raise
        self._keep_cookies(response.headers.get("set-cookie", ""))
        if response.headers.get("connection", "").lower() == "close":
            self.close()
        return response

    async def _read(self) -> Response:
        assert self._reader is not None
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise HttpError(f"bad status line {status_line!r}")
        headers: dict[str, str] = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                name = name.strip().lower()
                headers[name] = f"{headers[name]}\n{value.strip()}" if name in headers else value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunked()
        else:
            body = await self._reader.readexactly(int(headers.get("content-length", "0")))
        return Response(int(parts[1]), headers, body)

    async def _read_chunked(self) -> bytes:
        assert self._reader is not None
        chunks = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunks.append(await self._reader.readexactly(size + 2))
            if size == 0:
                return b"".join(chunks)[:-2]
            chunks[-1] = chunks[-1][:-2]

    def cookie_header(self) -> str:
        """The Cookie header's value: every cookie kept, whatever the path."""
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def _keep_cookies(self, set_cookie: str) -> None:
        for line in filter(None, set_cookie.split("\n")):
            pair, _, attributes = line.partition(";")
            name, _, value = pair.strip().partition("=")
            attrs = attributes.lower()
            if "max-age=0" in attrs or "expires=thu, 01 jan 1970" in attrs or not value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


def target_of(url: str) -> str:
    """The request target (path and query) of an absolute or relative URL."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
