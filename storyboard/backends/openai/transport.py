"""The HTTP transport under the SDK and the legacy downloads: answers are read up to a cap and no
further, so a server that sends a gigabyte (or never stops) costs a failed attempt, not the memory.
The cap (client.MAX_RESPONSE_BYTES) sits well above the largest real answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2


class TooLarge(httpx2.ReadError):
    """The server's answer is larger than any image: reading stopped at the cap."""

    def __init__(self, limit: int, request: httpx2.Request, announced: int | None = None) -> None:
        size = f"announced {announced:,} bytes" if announced is not None else f"sent more than {limit:,} bytes"
        super().__init__(f"the server's answer {size}, more than an image can be ({limit // 2**20} MB); "
                         "it was not read", request=request)


class _CappedStream(httpx2.AsyncByteStream):
    """A response body that raises TooLarge once more than `limit` bytes came."""

    def __init__(self, inner: Any, limit: int, request: httpx2.Request) -> None:
        self._inner, self._limit, self._request = inner, limit, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._inner:
            seen += len(chunk)
            if seen > self._limit:
                raise TooLarge(self._limit, self._request)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class CappedTransport(httpx2.AsyncBaseTransport):
    """Wrap a transport so that no answer is read past `limit` bytes."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, limit: int) -> None:
        self._inner, self.limit = inner, limit

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send the request; hand back its answer with a capped body."""
        response = await self._inner.handle_async_request(request)
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.limit:
            await response.aclose()
            raise TooLarge(self.limit, request, int(length))
        response.stream = _CappedStream(response.stream, self.limit, request)
        return response

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()


def capped_transport(limit: int, **kw: Any) -> CappedTransport:
    """Return httpx2's own transport (keep-alive pool as the SDK sets it) behind the cap."""
    kw.setdefault("limits", httpx2.Limits(max_connections=1000, max_keepalive_connections=100))
    return CappedTransport(httpx2.AsyncHTTPTransport(**kw), limit)
