"""No credential anywhere (issue 11, item 7; SPEC §5): an API key and a base-URL password, both
echoed back by a careless server in every field it gives, are found in no file that `run`, `plan`,
`gallery` and every `export` write, nor in what they print.

Files are searched as a reader would find them: raw bytes, every ZIP member, every PDF's text and
metadata."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
import typer
from fakeapi import FakeImagesAPI
from test_runner import cli, write_story

from storyboard.cli import app

KEY = "sk-proj-LEAKYKEY0123456789abcdefXYZ"
PASSWORD = "hunter2-LEAKYPASS"
SECRETS = (KEY, KEY.removeprefix("sk-proj-"), PASSWORD)


def export_flags() -> list[str]:
    """Return every format flag `storyboard export` has (a new format is covered without a change here)."""
    command = typer.main.get_command(app).commands["export"]  # type: ignore[attr-defined]
    return sorted(opt for p in command.params if getattr(p, "is_flag", False)
                  for opt in p.opts if opt.startswith("--") and opt not in ("--help",))


def readable(path: Path) -> str:
    """Return what a reader could find in a file: its bytes, and inside ZIPs and PDFs their contents."""
    data = path.read_bytes()
    text = data.decode("latin-1")
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            text += "".join(z.read(n).decode("latin-1") for n in z.namelist())
    if data.startswith(b"%PDF"):
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(data))
        text += str(reader.metadata) + "".join(page.extract_text() or "" for page in reader.pages)
    return text


def story(tmp_path: Path) -> Path:
    """Write a small story with captions, notes and dialogue (every text an export shows)."""
    frames = [
        {"id": f"f0{i}", "prompt": f"f0{i}: a lighthouse keeper in a storm", "caption": f"Caption {i}",
         "notes": "WIDE. Rain.", "dialogue": [{"mira": "We have to go."}]}
        for i in range(1, 4)
    ]
    return write_story(tmp_path, frames, duration=1)


@pytest.mark.parametrize("where", ["key", "base-url-password"])
def test_no_credential_in_any_file_or_output(
    fake_env: FakeImagesAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    fake_env.echo_key = {"code", "message", "type", "request_id", "revised_prompt"}
    fake_env.faults = lambda _i, rec: {"status": 400} if b"f02:" in rec.body else None  # an error, echoed
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    if where == "base-url-password":
        # httpx sends a URL's user:password as Basic credentials (in place of the key): the server echoes those.
        fake_env.basic_auth_ok = True
        monkeypatch.setenv("OPENAI_BASE_URL", fake_env.base_url.replace("http://", f"http://artist:{PASSWORD}@"))
    path, out = story(tmp_path), tmp_path / "out"

    results: list[Any] = [cli("run", path, "-o", out, "--json"), cli("plan", path, "-o", out), cli("gallery", out)]
    flags = export_flags()
    assert {"--pdf", "--gif", "--zip"} <= set(flags)
    results += [cli("export", out, flag) for flag in flags]

    assert results[0].exit_code == 1  # the frame answered 400 failed; the others were saved
    echoed = fake_env.image_requests()[0].headers["authorization"]
    assert echoed.startswith("Basic " if where == "base-url-password" else f"Bearer {KEY}")
    for result in results:
        for secret in SECRETS:
            assert secret not in result.stdout + result.stderr, (result.stdout, result.stderr)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".pdf" for p in files) and any(p.name == "index.html" for p in files)
    for p in files:
        if p == path:
            continue
        found = readable(p)
        for secret in SECRETS:
            assert secret not in found, f"{secret!r} in {p.relative_to(tmp_path)}"
