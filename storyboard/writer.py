"""The story writer: a chat model drafts a story file from a premise (Responses API, strict
structured output), and the draft is validated like any story before it is written. The shape
the reply must have (its model and JSON Schema) is writer_schema.py."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

from storyboard.errors import Problem, StoryboardError, StoryError, UsageError
from storyboard.writer_schema import SCHEMA, reply_errors

SYSTEM_PROMPT = """\
You write story files for `storyboard`, a tool that sends each frame's prompt to an image model \
and lays the pictures out as a storyboard. Reply with the JSON object the schema describes.

Image prompts:
- Each frame's `prompt` describes one picture: who, doing what, where; the composition and camera \
(wide shot, close-up, low angle, over the shoulder); lighting and mood. 40 to 90 words, concrete and \
visual. No sounds, no camera moves, no lettering unless the story needs it.
- The image model sees every prompt alone and remembers nothing between frames, so whatever must stay \
the same is written once and referred to by a placeholder:
  - Every recurring character is an entry of `characters`: `name` is a short lowercase identifier \
(e.g. `mira`), `description` one visual sentence fixing the look (age, build, face, hair, clothes and \
their colours, one distinctive feature). In prompts write the character as the placeholder {{ mira }}; \
it is replaced by the description. Never write the character's name or look in a prompt otherwise: \
only pose, expression and action.
  - A var named `style` holds the visual style shared by every frame (medium, palette, line, light, \
e.g. "ink and watercolour graphic-novel panel, muted teal and amber palette, soft grain"). End every \
prompt with {{ style }}. Add a var for a recurring place if it helps, used as {{ its_name }}.
  - The only placeholders are {{ name }} for each var and character: no other braces, no logic.
- `id`: short, unique, lowercase, only a-z, 0-9, - and _ (e.g. `harbour-night`).
- `caption`: one short line shown under the picture. `notes`: shot notes for the artist \
(e.g. "WIDE. Low angle.") or null.
- `size`: "3:2" (landscape) unless the story wants "16:9" (cinematic), "1:1", "2:3" or "9:16" (portrait).
- Keep everything suitable for a general audience."""

LINEAR = """\
Write a linear story of exactly {frames} frames in reading order, with a beginning, a turn and an \
ending. Every frame has `text` null and `choices` []."""

BRANCHING = """\
Write a choose-your-own-adventure of about {frames} frames (between {low} and {high}).
- The first frame is the start.
- Every frame has `text`: the passage the reader reads beside the picture, two to four sentences in \
the second person, present tense.
- A frame that goes on has two or three `choices`: `label` a short action ("Climb the tower"), `goto` \
the id of another frame. A frame with `choices` [] is an ending; its text closes the story.
- Write at least two different endings. Every frame can be reached from the start by following \
choices, and from every frame an ending can be reached. Branches may merge and may loop back.
- List the start first and the endings last."""

MAX_RETRIES = 2  # a single chat request: the SDK's own retries are enough here


def write_story(
    premise: str,
    *,
    frames: int,
    branches: bool,
    out: Path | None,
    model: str,
    api_key: str | None,
    base_url: str | None,
) -> Path:
    """Draft a story from a premise with a chat model, validate it, write it, return its path."""
    if out is not None:
        _check_out(out)
    reply = _ask(premise, frames=frames, branches=branches, model=model, api_key=api_key, base_url=base_url)
    data = _parse_reply(reply, model)
    story = to_story(data)
    path = out if out is not None else _free_path(Path(), slug(story["title"]))
    text = render_yaml(story, premise=premise, model=model, name=path.name)
    check_draft(text, branches=branches, label=f"the story {model} wrote (not saved)")
    try:
        with path.open("x", encoding="utf-8") as f:  # "x": never overwrite, even in a race
            f.write(text)
    except FileExistsError:
        raise UsageError(f"{path} exists; choose another -o.") from None
    return path


def _check_out(out: Path) -> None:
    # Checked before the request too, so no paid draft is thrown away for a bad path.
    if out.exists():
        raise UsageError(f"{out} exists; choose another -o.")
    if not out.parent.is_dir():
        raise UsageError(f"{out.parent} is not a folder; create it or choose another -o.")


def _ask(premise: str, *, frames: int, branches: bool, model: str, api_key: str | None, base_url: str | None) -> str:
    """Send the one Responses API request and return the reply's text."""
    import httpx2
    import openai

    from storyboard.backends.openai.client import DEFAULT_BASE_URL, PLACEHOLDER_KEY, host_of

    host = host_of(base_url or DEFAULT_BASE_URL)
    if api_key is None and base_url is not None:
        api_key = PLACEHOLDER_KEY  # local servers want some bearer token
    task = (BRANCHING if branches else LINEAR).format(frames=frames, low=max(3, frames - 2), high=frames + 2)
    try:
        client = openai.OpenAI(
            api_key=api_key, base_url=base_url or DEFAULT_BASE_URL, max_retries=MAX_RETRIES,
            # A reasoning model may think for minutes over a long adventure; a dead host fails fast.
            timeout=httpx2.Timeout(600.0, connect=10.0),
        )
        response = client.responses.create(
            model=model,
            input=[
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": f"{task}\n\nPremise: {premise.strip()}"},
            ],
            text={"format": {"type": "json_schema", "name": "story", "strict": True, "schema": SCHEMA}},
            store=False,
        )
    except openai.OpenAIError as e:
        raise StoryboardError(explain(e, host=host, model=model, key=api_key)) from None
    return _reply_text(response, model)


def _reply_text(response: Any, model: str) -> str:
    """Return the structured reply, or say why there is none (refusal, cut off, failed)."""
    for item in response.output or []:
        for part in getattr(item, "content", None) or []:
            if getattr(part, "type", None) == "refusal":
                raise StoryboardError(f"{model} refused to write this story: {_one_line(part.refusal)}")
    if response.error is not None:
        raise StoryboardError(f"{model} failed to write the story: {_one_line(response.error.message)}")
    if response.status == "incomplete":
        reason = getattr(response.incomplete_details, "reason", None) or "unknown reason"
        raise StoryboardError(f"{model} stopped before the story was complete ({reason}). Try fewer --frames.")
    text = response.output_text
    if not text.strip():
        raise StoryboardError(f"{model} sent an empty reply. Try again, or another --model.")
    return text


def explain(e: Exception, *, host: str, model: str, key: str | None = None) -> str:
    """Return one sentence saying what an SDK error means and what to do, without any key in it."""
    import openai

    if isinstance(e, openai.APITimeoutError):
        msg = f"timed out waiting for {host}. Try again, or ask for fewer --frames."
    elif isinstance(e, openai.APIConnectionError):
        msg = f"could not connect to {host}. Check the network, or OPENAI_BASE_URL."
    elif isinstance(e, openai.APIStatusError):
        said = _server_message(e)
        status = e.status_code
        if status == 401:
            msg = "the API key was refused (401). Check OPENAI_API_KEY."
        elif status == 403:
            msg = f"permission denied (403): {said}"
        elif "insufficient_quota" in (e.code, e.type):
            msg = "the account has no quota left (insufficient_quota). Add credit or raise the limit, then try again."
        elif status == 429:
            msg = f"rate limited (429): {said} Wait a minute and try again."
        elif status == 404:
            msg = f"{host} does not offer model `{model}` (404): {said} Choose another --model."
        elif status >= 500:
            msg = f"{host} failed (HTTP {status}): {said} Try again later."
        else:
            msg = f"{host} refused the request (HTTP {status}): {said} Try another --model."
    else:
        msg = f"the request to {host} failed: {getattr(e, 'message', None) or type(e).__name__}."
    from storyboard.backends.openai.errors import redact

    return redact(msg, key)


def _server_message(e: Any) -> str:
    body = e.body
    if isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"]:
        text = _one_line(body["message"])
    else:
        text = "no message"
    return text if text.endswith((".", "!", "?")) else text + "."


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _parse_reply(reply: str, model: str) -> dict[str, Any]:
    """Return the reply as JSON checked against the draft's model (a local server may not enforce the schema)."""
    try:
        data = json.loads(reply)
    except ValueError:
        raise StoryboardError(f"{model} did not reply with JSON: {_one_line(reply, 120)!r}. Try again, or another --model.") from None
    errors = reply_errors(data)
    if errors:
        raise StoryError([Problem(f"the reply of {model}", None, None, path, msg) for path, msg in errors[:20]])
    return data


def to_story(data: dict[str, Any]) -> dict[str, Any]:
    """Turn the schema's lists back into the story file's shape, keys in a readable order."""
    from storyboard.story import DEFAULT_MODEL

    story: dict[str, Any] = {
        "title": " ".join(data["title"].split()),
        "model": DEFAULT_MODEL,
        "size": data["size"],
        "quality": "medium",
        "vars": {v["name"]: v["value"] for v in data["vars"]},
        "characters": {c["name"]: {"description": c["description"]} for c in data["characters"]},
        "frames": [],
    }
    for f in data["frames"]:
        frame: dict[str, Any] = {"id": f["id"], "prompt": f["prompt"], "caption": f["caption"]}
        for key in ("notes", "text"):
            if f[key] and f[key].strip():
                frame[key] = f[key]
        if f["choices"]:
            frame["choices"] = [{"label": c["label"], "goto": c["goto"]} for c in f["choices"]]
        story["frames"].append(frame)
    for key in ("vars", "characters"):
        if not story[key]:
            del story[key]
    return story


def render_yaml(story: dict[str, Any], *, premise: str, model: str, name: str = "story.yaml") -> str:
    """Return the story as YAML the way a person would write it: one blank line between frames."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
            # Indent lists under their key (`frames:` then `  - id:`), as the examples do.
            super().increase_indent(flow, False)

        def represent_str(self, data: str) -> Any:
            # Passages of several paragraphs read best as literal blocks (PyYAML quotes them when it must).
            return self.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)

    Dumper.add_representer(str, Dumper.represent_str)

    def dump(value: Any) -> str:
        return yaml.dump(value, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=10_000)

    # Section by section, with a blank line between them and between frames, as in pipelines/.
    head = {k: v for k, v in story.items() if k not in ("vars", "characters", "frames")}
    sections = [dump(head)] + [dump({k: story[k]}) for k in ("vars", "characters") if k in story]
    frames = ["".join(f"  {line}\n" if line else "\n" for line in dump([frame]).splitlines()) for frame in story["frames"]]
    body = "\n".join(sections) + "\nframes:\n" + "\n".join(frames)
    about = _one_line(premise, 200)
    return f"# Drafted by {model} from: {about}\n# Try it offline first: storyboard run {name} --backend draft\n{body}"


def check_draft(text: str, *, branches: bool, label: str) -> None:
    """Validate a drafted story as `storyboard validate` would; raise StoryError naming `label`."""
    from storyboard.backends import registry
    from storyboard.plan import build_plan
    from storyboard.story import adventure, load_story

    with tempfile.TemporaryDirectory(prefix="storyboard-draft-") as tmp:
        path = Path(tmp) / "draft.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            loaded = load_story(path)
            # The plan renders every prompt, so a placeholder naming nothing is caught here.
            build_plan(loaded, backend=registry.fallback().name, host=None)
        except StoryError as e:
            raise _relabel(e.problems, label) from None
        problems = adventure.problems(loaded)
        if branches and not loaded.has_choices:
            problems.append(loaded.problem(("frames",), "--branches asked for choices, and no frame has any"))
        if problems:
            raise _relabel(problems, label)


def _relabel(problems: list[Problem], label: str) -> StoryError:
    # The temp file is gone when the user reads this: name the draft, and drop its line numbers.
    return StoryError([Problem(label, None, None, p.path, p.message) for p in problems])


def slug(title: str) -> str:
    """Return a file-name stem for a title: `The Lantern's Wood!` -> `the-lantern-s-wood`."""
    import unicodedata

    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    s = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return s[:60].rstrip("-") or "story"


def _free_path(folder: Path, stem: str) -> Path:
    # The default name comes from the title, known only after the paid request: never clash, number instead.
    path = folder / f"{stem}.yaml"
    n = 2
    while path.exists():
        path = folder / f"{stem}-{n}.yaml"
        n += 1
    return path
