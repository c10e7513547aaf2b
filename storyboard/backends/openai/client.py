"""The OpenAI Images backend: one `ImageRequest` in, one `GeneratedImage` out.

Talks to `/v1/images/*` through the `openai` SDK with its retries off (the runner retries),
and maps every SDK error to the `RequestFailed` family in one place (`errors.map_error`).
"""

from __future__ import annotations

import base64
import binascii
import inspect
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from storyboard.backends import GeneratedImage, ImageRequest, InputImage
from storyboard.backends.openai.errors import map_error
from storyboard.errors import FatalFailure, FrameFailure, TransientFailure

if TYPE_CHECKING:  # openai is imported lazily: `storyboard --help` must not pay for it
    from openai import AsyncOpenAI
    from openai.types import ImagesResponse

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Local OpenAI-compatible servers want some bearer token; the SDK refuses to start without one.
PLACEHOLDER_KEY = "sk-no-key-required"
_FORMATS = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "svg": "image/svg+xml",
}
_FileTuple = tuple[str, bytes, str]


class _Secret:
    """Hold the API key so that no repr, traceback or log line can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        """Return the key itself, for the SDK only."""
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


def host_of(base_url: str) -> str:
    """Return the host (and port) of a base URL, without any credentials in it."""
    netloc = urlsplit(base_url).netloc
    return netloc.rsplit("@", 1)[-1].lower()


class OpenAIBackend:
    """Send image requests to the OpenAI Images API or an OpenAI-compatible server."""

    name = "openai"

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        timeout: float = 600.0,
    ) -> None:
        if api_key is None and base_url is not None:
            api_key = PLACEHOLDER_KEY
        self._api_key = _Secret(api_key) if api_key else None
        # Always explicit, so the SDK cannot pick another URL from the environment and the
        # host in every request key is the host really asked.
        self.base_url = base_url or DEFAULT_BASE_URL
        self.host: str | None = host_of(self.base_url)
        self.organization = organization
        self.project = project
        self.timeout = timeout
        self._client: AsyncOpenAI | None = None

    def __repr__(self) -> str:
        return f"OpenAIBackend(host={self.host!r})"

    def _get_client(self) -> AsyncOpenAI:
        """Return the SDK client, building it on first use."""
        if self._client is None:
            import httpx2
            import openai

            try:
                self._client = openai.AsyncOpenAI(
                    api_key=self._api_key.get() if self._api_key else None,
                    base_url=self.base_url,
                    organization=self.organization,
                    project=self.project,
                    # A dead host should fail in seconds, a slow image may take minutes.
                    timeout=httpx2.Timeout(self.timeout, connect=min(self.timeout, 5.0)),
                    max_retries=0,  # the runner retries: one mechanism for attempts and pacing
                )
            except openai.OpenAIError as e:
                raise FatalFailure(
                    "OPENAI_API_KEY is not set. Export it, or use --backend draft.", type="configuration"
                ) from e
        return self._client

    async def generate(self, request: ImageRequest) -> GeneratedImage:
        """Send one request and return its image (see `Backend.generate`)."""
        import openai

        client = self._get_client()
        key = self._api_key.get() if self._api_key else None
        try:
            if request.kind == "generate":
                response = await self._generate(client, request)
            elif request.kind == "variation" and request.legacy:
                response = await self._variation(client, request)
            else:
                # A variation on a GPT image model is an edit: the planner already wrote the
                # "a variation of this image" instruction into the prompt.
                response = await self._edit(client, request)
        except openai.OpenAIError as e:
            raise map_error(e, key=key) from e
        return await self._image_of(response)

    async def _generate(self, client: AsyncOpenAI, request: ImageRequest) -> ImagesResponse:
        """Call `images.generate` with exactly what the request carries."""
        core: dict[str, Any] = {"model": request.model, "prompt": request.prompt, "n": 1}
        _add_common(core, request)
        return await client.images.generate(**_call_args(client.images.generate, core, request.options))

    async def _edit(self, client: AsyncOpenAI, request: ImageRequest) -> ImagesResponse:
        """Call `images.edit`: source first, then references, and the mask if any."""
        if not request.images:
            raise FrameFailure(
                f"a {request.kind} needs an input image", type="invalid_request", code="no_image"
            )
        files = [_file(i) for i in request.images]
        core: dict[str, Any] = {
            "model": request.model,
            "prompt": request.prompt,
            # One file goes as the `image` field, a list as repeated `image[]` fields.
            "image": files[0] if len(files) == 1 else files,
            "n": 1,
        }
        if request.mask is not None:
            core["mask"] = _file(request.mask)
        _add_common(core, request)
        return await client.images.edit(**_call_args(client.images.edit, core, request.options))

    async def _variation(self, client: AsyncOpenAI, request: ImageRequest) -> ImagesResponse:
        """Call the retired `images.create_variation`, which compatible servers may still serve."""
        if not request.images:
            raise FrameFailure("a variation needs an input image", type="invalid_request", code="no_image")
        core: dict[str, Any] = {
            "model": request.model,
            "image": _file(request.images[0]),
            "n": 1,
            "response_format": "b64_json",
        }
        if request.size is not None:
            core["size"] = request.size
        method = client.images.create_variation
        with warnings.catch_warnings():
            # The SDK marks the method deprecated; the call is deliberate. Only creating the
            # coroutine happens in here: filters are process-wide, so no await inside.
            warnings.simplefilter("ignore", DeprecationWarning)
            pending = method(**_call_args(method, core, request.options))
        return await pending

    async def _image_of(self, response: ImagesResponse) -> GeneratedImage:
        """Turn a parsed response into a `GeneratedImage`, fetching a returned URL at once."""
        request_id: str | None = getattr(response, "_request_id", None)
        first = response.data[0] if response.data else None
        if first is not None and first.b64_json:
            try:
                data = base64.b64decode(first.b64_json, validate=True)
            except (binascii.Error, ValueError) as e:
                raise FrameFailure(
                    "the server sent an image that is not valid base64",
                    type="invalid_response",
                    code="bad_base64",
                    request_id=request_id,
                ) from e
        elif first is not None and first.url:
            # Legacy URLs expire (an hour on OpenAI): fetch now or lose a paid image.
            data = await self._download(first.url, request_id)
        else:
            raise FrameFailure(
                "the server answered without an image",
                type="invalid_response",
                code="no_image",
                request_id=request_id,
            )
        media_type = _FORMATS.get(response.output_format or "") or sniff_media_type(data)
        usage = response.usage.model_dump(mode="json") if response.usage is not None else None
        return GeneratedImage(
            data=data,
            media_type=media_type,
            revised_prompt=first.revised_prompt,
            usage=usage,
            request_id=request_id,
        )

    async def _download(self, url: str, request_id: str | None) -> bytes:
        """Fetch an image URL; a failure is ambiguous, since the image was made (and billed)."""
        import httpx2

        where = host_of(url) or "the image URL"  # never the whole URL: it may carry a signature
        try:
            async with httpx2.AsyncClient(timeout=httpx2.Timeout(self.timeout, connect=5.0)) as http:
                reply = await http.get(url, follow_redirects=True)
                reply.raise_for_status()
                return reply.content
        except httpx2.HTTPStatusError as e:
            reason = f"HTTP {e.response.status_code}"
        except httpx2.HTTPError as e:
            reason = type(e).__name__
        raise TransientFailure(
            f"could not download the image from {where}: {reason}",
            ambiguous=True,
            type="download_error",
            code=reason,
            request_id=request_id,
        )

    async def aclose(self) -> None:
        """Close the SDK client if one was made."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()


def _file(image: InputImage) -> _FileTuple:
    """Return the (filename, bytes, media type) tuple a multipart upload takes."""
    return (image.filename, image.data, image.media_type)


def _add_common(core: dict[str, Any], request: ImageRequest) -> None:
    """Add size and quality only when the request carries them; legacy models get base64 back."""
    if request.size is not None:
        core["size"] = request.size
    if request.quality is not None:
        core["quality"] = request.quality
    if request.legacy:
        core["response_format"] = "b64_json"


def _call_args(method: Callable[..., Any], core: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """Merge options into the call: SDK parameters by name, newer ones through `extra_body`."""
    clash = sorted(set(core) & set(options))
    if clash:
        # The planner owns these fields; an option must not silently override them.
        raise FrameFailure(
            f"options may not set {', '.join(clash)}", type="invalid_request", code="option_conflict"
        )
    known = set(inspect.signature(method).parameters)
    args = dict(core)
    extra = {}
    for name, value in options.items():
        if name in known and not name.startswith("extra_") and name != "timeout":
            args[name] = value
        else:
            # A parameter the server takes before this SDK version knows it.
            extra[name] = value
    if extra:
        args["extra_body"] = extra
    return args


def sniff_media_type(data: bytes) -> str:
    """Return the media type that an image's magic numbers announce."""
    from storyboard.render.imaging import sniff

    kind = sniff(data)
    return kind[0] if kind else "application/octet-stream"
