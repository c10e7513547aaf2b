"""Legacy answers (DALL·E) may carry a URL instead of the image. The image behind it is made and
paid for, so a failed download is downloaded again, never requested again: these few retries are
of a GET for an image already bought, not of the request (which only the runner retries).

Only http(s) URLs are fetched, redirects are followed by hand (a few, each checked the same way,
never to another scheme, never round in a loop), every try has an overall deadline, and the body
is read up to the transport's cap."""

from __future__ import annotations

import asyncio
from urllib.parse import urljoin, urlsplit

from storyboard.errors import FrameFailure

MAX_REDIRECTS = 5
TRIES = 4
PAUSE = 0.5  # seconds before the second try; doubled before each later one
_GONE = frozenset({400, 401, 403, 404, 410})  # an expired or wrong URL stays so


class _Again(Exception):
    """A try failed in a way another try may not."""


class _Never(Exception):
    """A try failed in a way every try would."""


def where(url: str) -> str:
    """Return the host of a URL for a message: never the whole URL, which may carry a signature."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.port:
        host = f"{host}:{parts.port}"
    return host or f"a {parts.scheme or 'schemeless'}: URL"


async def download(url: str, request_id: str | None, *, deadline: float, max_bytes: int,
                   tries: int | None = None, pause: float | None = None) -> bytes:
    """Fetch the image at `url`; raise FrameFailure (the frame fails, nothing is bought again) when
    every try failed or none can succeed."""
    tries = TRIES if tries is None else tries
    pause = PAUSE if pause is None else pause
    last = ""
    for attempt in range(1, tries + 1):
        try:
            return await _fetch(url, deadline, max_bytes)
        except _Never as e:
            last = str(e)
            break
        except _Again as e:
            last = str(e)
            if attempt < tries:
                await asyncio.sleep(pause * 2 ** (attempt - 1))
    else:
        last += f" ({tries} tries)"
    raise FrameFailure(
        f"the image was made (and billed) but could not be downloaded from {where(url)}: {last}; "
        "it was not requested again",
        type="download_error", code="download_failed", request_id=request_id,
    )


async def _fetch(url: str, deadline: float, max_bytes: int) -> bytes:
    """One try: follow at most MAX_REDIRECTS checked redirects within `deadline` seconds."""
    import httpx2

    from storyboard.backends.openai.transport import TooLarge, capped_transport

    seen: set[str] = set()
    current = url
    timeout = httpx2.Timeout(deadline, connect=min(deadline, 5.0))
    try:
        async with asyncio.timeout(deadline), httpx2.AsyncClient(
            transport=capped_transport(max_bytes), timeout=timeout, follow_redirects=False
        ) as http:
            for hop in range(MAX_REDIRECTS + 1):
                scheme = urlsplit(current).scheme.lower()
                if scheme not in ("http", "https"):
                    raise _Never(f"{'its URL' if hop == 0 else 'a redirect'} is a {scheme or 'schemeless'}: URL, "
                                 "which is never fetched")
                if current in seen:
                    raise _Never("its URL redirects in a loop")
                seen.add(current)
                reply = await http.get(current)
                if reply.is_redirect:
                    location = reply.headers.get("location")
                    if not location:
                        raise _Never(f"HTTP {reply.status_code} without a Location")
                    current = urljoin(current, location)
                    continue
                if reply.status_code == 200:
                    return reply.content
                if reply.status_code in _GONE:
                    raise _Never(f"HTTP {reply.status_code}")
                raise _Again(f"HTTP {reply.status_code}")
            raise _Never(f"more than {MAX_REDIRECTS} redirects")
    except TooLarge as e:
        raise _Never(str(e)) from None
    except TimeoutError:
        raise _Again(f"no image within {deadline:g} s") from None
    except httpx2.HTTPError as e:
        raise _Again(type(e).__name__) from None
