"""First downloads from the Hugging Face Hub, against a fake Hub on 127.0.0.1 that speaks the API that
huggingface_hub and diffusers use (model info, tree listing, resolve with its headers, gated repos):
the question before fetching, consent, the fp16 variant, gated and unknown repos."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

pytest.importorskip("diffusers")

from storyboard.backends.local import hub, tiny  # noqa: E402
from storyboard.backends.local.backend import LocalBackend  # noqa: E402

SHA = "89abcdef0123456789abcdef0123456789abcdef"


class FakeHub:
    """A Hub holding repos as folders: {repo_id: (folder, gated)}; it records every path asked for."""

    def __init__(self, repos: dict[str, tuple[Path, bool]]) -> None:
        self.repos = repos
        self.requests: list[tuple[str, str]] = []
        hub_ = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def log_message(self, *_a: object) -> None:
                pass

            def do_HEAD(self) -> None:
                hub_.serve(self, body=False)

            def do_GET(self) -> None:
                hub_.serve(self, body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeHub:
        threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True).start()
        return self

    def __exit__(self, *_a: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def files(folder: Path) -> list[Path]:
        return sorted(p for p in folder.rglob("*") if p.is_file())

    def _send(self, h: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict[str, str], body: bool) -> None:
        h.send_response(status)
        for k, v in {"Content-Length": str(len(data)), **headers}.items():
            h.send_header(k, v)
        h.end_headers()
        if body:
            h.wfile.write(data)

    def _error(self, h: BaseHTTPRequestHandler, status: int, code: str, body: bool) -> None:
        msg = json.dumps({"error": code}).encode()
        self._send(h, status, msg, {"X-Error-Code": code, "X-Error-Message": code, "Content-Type": "application/json"}, body)

    def serve(self, h: BaseHTTPRequestHandler, *, body: bool) -> None:
        path = unquote(urlparse(h.path).path)
        self.requests.append((h.command, path))
        api = path.startswith("/api/models/")
        parts = path.removeprefix("/api/models/").split("/") if api else path.lstrip("/").split("/")
        repo = "/".join(parts[:2])
        if repo not in self.repos:
            return self._error(h, 404, "RepoNotFound", body)
        folder, gated = self.repos[repo]
        rest = parts[2:]
        if rest and len(rest) > 1 and rest[1] not in (SHA, "main"):
            return self._error(h, 404, "RevisionNotFound", body)
        if api and (not rest or rest[0] == "revision"):
            siblings = [{"rfilename": p.relative_to(folder).as_posix(), "size": p.stat().st_size} for p in self.files(folder)]
            info = {"id": repo, "sha": SHA, "siblings": siblings, "gated": "manual" if gated else False,
                    "private": False, "tags": [], "downloads": 0, "likes": 0}
            return self._send(h, 200, json.dumps(info).encode(), {"Content-Type": "application/json"}, body)
        if api and rest[0] == "tree":
            entries = []
            for p in self.files(folder):
                data = p.read_bytes()
                entry = {"type": "file", "path": p.relative_to(folder).as_posix(), "size": len(data),
                         "oid": hashlib.sha1(data).hexdigest()}
                if p.suffix == ".safetensors":
                    entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
                entries.append(entry)
            return self._send(h, 200, json.dumps(entries).encode(), {"Content-Type": "application/json"}, body)
        if not api and rest and rest[0] == "resolve":
            if gated:
                return self._error(h, 401, "GatedRepo", body)
            file = folder / "/".join(rest[2:])
            if not file.is_file():
                return self._error(h, 404, "EntryNotFound", body)
            data = file.read_bytes()
            etag = hashlib.sha256(data).hexdigest() if file.suffix == ".safetensors" else hashlib.sha1(data).hexdigest()
            return self._send(h, 200, data, {"X-Repo-Commit": SHA, "ETag": f'"{etag}"',
                                            "Content-Type": "application/octet-stream"}, body)
        return self._error(h, 404, "EntryNotFound", body)

    def fetched(self) -> list[str]:
        """Return the repo files downloaded (GET on resolve)."""
        return [p for m, p in self.requests if m == "GET" and "/resolve/" in p]


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hubrepos")
    sd = tiny.build_sd(root / "sd")
    fp16 = root / "sd-fp16"
    shutil.copytree(sd, fp16)
    for p in list(fp16.rglob("*.safetensors")):
        shutil.copy(p, p.with_name(p.name.replace(".safetensors", ".fp16.safetensors")))
    return {"sd": sd, "fp16": fp16}


@pytest.fixture
def fake_hub(repos: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    from huggingface_hub import constants, hf_api

    with FakeHub({"stabilityai/sd-turbo": (repos["sd"], False), "acme/sd-fp16": (repos["fp16"], False),
                  "acme/gated": (repos["sd"], True)}) as server:
        # the endpoint is read at import (HF_ENDPOINT): module-level clients keep their own copy
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        monkeypatch.setattr(hf_api.api, "endpoint", server.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", server.url + "/{repo_id}/resolve/{revision}/{filename}")
        monkeypatch.delenv("HF_TOKEN", raising=False)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # the suite runs with HF_HUB_OFFLINE=1
        yield server


def test_nothing_is_fetched_without_consent(fake_hub: FakeHub, tmp_path: Path) -> None:
    b = LocalBackend(base=tmp_path, device="cpu", hf_cache=tmp_path / "hub")
    asked: list[str] = []
    with pytest.raises(hub.ModelUnavailable, match="not downloaded; nothing was run"):
        b.prepare(["stabilityai/sd-turbo"], lambda q: asked.append(q) or False)
    (question,) = asked
    assert question.startswith(f"Download stabilityai/sd-turbo (revision {SHA[:12]})")
    assert str(tmp_path / "hub") in question and "free)?" in question
    assert fake_hub.fetched() == []


def test_consent_downloads_then_the_model_runs_offline(fake_hub: FakeHub, tmp_path: Path,
                                                       repos: dict[str, Path]) -> None:
    cache = tmp_path / "hub"
    b = LocalBackend(base=tmp_path, device="cpu", hf_cache=cache)
    snap = b.resolve("stabilityai/sd-turbo").snapshot
    expected = sum(p.stat().st_size for p in FakeHub.files(repos["sd"]))
    assert (snap.revision, snap.download_bytes, snap.cached) == (SHA, expected, False)
    b.prepare(["stabilityai/sd-turbo"], lambda q: True)
    got = {p.split("/resolve/")[1].split("/", 1)[1] for p in fake_hub.fetched()}
    assert "unet/diffusion_pytorch_model.safetensors" in got and "model_index.json" in got
    # a new process, offline: the cached revision is used as it is
    offline = LocalBackend(base=tmp_path, device="cpu", hf_cache=cache, offline=True)
    r = offline.resolve("stabilityai/sd-turbo")
    assert r.identity == f"rev:{SHA}" and r.folder == cache / "models--stabilityai--sd-turbo" / "snapshots" / SHA


def test_the_fp16_variant_is_preferred_on_gpus(fake_hub: FakeHub, tmp_path: Path) -> None:
    snap = hub.resolve("acme/sd-fp16", None, cache=tmp_path / "hub", want_fp16=True, offline=False)
    full = hub.resolve("acme/sd-fp16", None, cache=tmp_path / "hub", want_fp16=False, offline=False)
    assert snap.variant == "fp16" and full.variant is None
    downloaded = hub.download(snap, "StableDiffusionPipeline", tmp_path / "hub")
    names = {p.name for p in downloaded.folder.rglob("*.safetensors")}  # type: ignore[union-attr]
    assert names and all(".fp16." in n for n in names)


def test_a_gated_repo_says_to_accept_its_licence_and_log_in(fake_hub: FakeHub, tmp_path: Path) -> None:
    snap = hub.resolve("acme/gated", None, cache=tmp_path / "hub", want_fp16=False, offline=False)
    with pytest.raises(hub.ModelUnavailable) as e:
        hub.download(snap, "StableDiffusionPipeline", tmp_path / "hub")
    assert "https://huggingface.co/acme/gated" in e.value.message and "hf auth login" in e.value.message


def test_an_unknown_repo_is_one_message(fake_hub: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(hub.ModelUnavailable, match="no such model on the Hugging Face Hub"):
        hub.resolve("nobody/nothing", None, cache=tmp_path / "hub", want_fp16=False, offline=False)
    with pytest.raises(hub.ModelUnavailable, match="no such revision"):
        hub.resolve("stabilityai/sd-turbo", "v9", cache=tmp_path / "hub", want_fp16=False, offline=False)


def test_an_unreachable_hub_names_repo_size_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      closed_base_url: str) -> None:
    from huggingface_hub import constants, hf_api

    url = closed_base_url.removesuffix("/v1")
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(hf_api.api, "endpoint", url)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with pytest.raises(hub.ModelUnavailable) as e:
        hub.resolve("stabilityai/sd-turbo", None, cache=tmp_path / "hub", want_fp16=True, offline=False)
    assert "cannot be reached (ConnectError)" in e.value.message and "2.6 GB" in e.value.message and str(tmp_path / "hub") in e.value.message


def test_the_cli_asks_before_a_first_download(fake_hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from storyboard.cli import app

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("OPENAI_BASE_URL")
    story = tmp_path / "s.yaml"
    story.write_text("title: T\nmodel: stabilityai/sd-turbo\nsize: 64x64\nframes:\n  - id: a\n    prompt: a dog\n")
    args = ["run", str(story), "-o", str(tmp_path / "out"), "--device", "cpu"]
    refused = CliRunner().invoke(app, args)  # no terminal to ask in
    assert refused.exit_code == 2, refused.output
    assert f"Download stabilityai/sd-turbo (revision {SHA[:12]})" in refused.stderr and "add --yes" in refused.stderr
    assert fake_hub.fetched() == [] and not (tmp_path / "out").exists()
    done = CliRunner().invoke(app, [*args, "--yes"])
    assert done.exit_code == 0, done.output
    entry = json.loads((tmp_path / "out" / "manifest.json").read_text())["frames"][0]
    assert entry["status"] == "ok" and entry["revision"] == SHA and entry["licence"].startswith("sai-nc-community")
