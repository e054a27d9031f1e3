"""A minimal keep-alive HTTP/1.1 client for the benchmarks' loopback load.

httpx (h11, pure Python) costs about 3 ms of CPU per request on a 2-core
machine: it cannot send more than ~350 requests/s and takes a good share of the
cores the server is measured on, so the figures would partly measure the client.
This speaks only what the benches send (GET, or POST with a body) and reads what
the servers answer (Content-Length, chunked, or delimited by the close), over one
connection per simulated client.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

REQUEST_TIMEOUT_S = 30.0


class HttpError(Exception):
    """No HTTP answer came back (refused, reset, timed out, garbled)."""


class Connection:
    """One keep-alive connection to `host:port`; reconnects after a failure or a close."""

    def __init__(self, host: str, port: int, headers: Mapping[str, str] | None = None) -> None:
        self.host, self.port = host, port
        # Sent with every request (the gate credential, for the hub).
        self.extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def connect(self) -> None:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """(status, body); `headers` are sent with this request only."""
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                return await self._exchange(method, path, body, content_type, headers or {})
        except (
            OSError,
            TimeoutError,
            ValueError,
            IndexError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ) as exc:
            # Whatever state the connection is in, it cannot carry the next request.
            await self.close()
            raise HttpError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc

    async def _exchange(
        self,
        method: str,
        path: str,
        body: bytes,
        content_type: str,
        extra: Mapping[str, str],
    ) -> tuple[int, bytes]:
        await self.connect()
        assert self.reader is not None and self.writer is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.extra}"
        head += "".join(f"{name}: {value}\r\n" for name, value in extra.items())
        if body or method != "GET":
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode("latin-1") + b"\r\n" + body)
        lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        if status < 200 or status in (204, 304):
            answer = b""
        elif headers.get("transfer-encoding") == "chunked":
            answer = await self._chunks()
        elif "content-length" in headers:
            answer = await self.reader.readexactly(int(headers["content-length"]))
        else:  # delimited by the end of the connection
            answer = await self.reader.read()
            headers["connection"] = "close"
        if headers.get("connection") == "close":
            await self.close()
        return status, answer

    async def _chunks(self) -> bytes:
        assert self.reader is not None
        parts = []
        while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)
        while await self.reader.readuntil(b"\r\n") != b"\r\n":
            pass  # trailers: nothing here reads them
        return b"".join(parts)
