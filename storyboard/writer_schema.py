"""What the story writer asks a chat model for: the reply's pydantic model, the JSON Schema strict
structured output takes made from it, and the check of a reply against it (a local server may not
enforce the schema), said in JSON's words."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# Strict structured output allows no open maps and wants every key required: the story's
# maps (vars, characters) travel as lists of pairs, optional values as nullable types.
_ID = r"^[a-z0-9_-]+$"
_NAME = r"^[a-z_][a-z0-9_]*$"


class _Draft(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DraftVar(_Draft):
    """A shared prompt fragment."""

    name: str = Field(pattern=_NAME)
    value: str


class DraftCharacter(_Draft):
    """A recurring character."""

    name: str = Field(pattern=_NAME)
    description: str = Field(description="One visual sentence that fixes the look.")


class DraftChoice(_Draft):
    """A choice of an adventure."""

    label: str
    goto: str = Field(pattern=_ID)


class DraftFrame(_Draft):
    """One frame as the chat model writes it."""

    id: str = Field(pattern=_ID)
    prompt: str = Field(description="The image prompt, with {{ name }} placeholders.")
    caption: str
    notes: str | None = Field(description="Shot and camera notes.")
    text: str | None = Field(description="The passage the reader reads (adventures).")
    choices: list[DraftChoice]


class DraftStory(_Draft):
    """The reply: a story in the shape strict structured output allows."""

    title: str = Field(description="The story's title.")
    size: Literal["3:2", "16:9", "1:1", "2:3", "9:16"] = Field(description="Aspect of every picture.")
    vars: list[DraftVar] = Field(description="Shared prompt fragments; one is named `style`.")
    characters: list[DraftCharacter]
    frames: list[DraftFrame]


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """Return a model's JSON Schema as strict structured output takes it: references inlined,
    nullable values as `type: [T, "null"]`, no titles (nor the classes' docstrings)."""
    raw = model.model_json_schema()
    defs = raw.pop("$defs", {})

    def walk(node: Any, properties: bool = False) -> Any:
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        if properties:  # a map of property names: every name is kept, even `title`
            return {k: walk(v) for k, v in node.items()}
        if "$ref" in node:
            return walk(defs[node["$ref"].rsplit("/", 1)[-1]])
        options = node.get("anyOf")
        if options and all(set(o) == {"type"} for o in options):
            node = {**{k: v for k, v in node.items() if k != "anyOf"}, "type": [o["type"] for o in options]}
        drop = {"title", "description"} if "properties" in node else {"title"}  # a class's docstring is for us
        return {k: walk(v, k == "properties") for k, v in node.items() if k not in drop}

    return walk(raw)


SCHEMA: dict[str, Any] = strict_schema(DraftStory)


def reply_errors(data: Any) -> list[tuple[str, str]]:
    """Return (path, message) for each way a decoded reply breaks the draft's model, and for each
    var or character named twice; [] for a reply that fits."""
    try:
        DraftStory.model_validate(data)
    except ValidationError as e:
        return [_reply_error(err) for err in e.errors()]
    errors: list[tuple[str, str]] = []
    for key in ("vars", "characters"):
        names = [item["name"] for item in data[key]]
        errors += [(key, f"`{n}` appears twice") for n in sorted({n for n in names if names.count(n) > 1})]
    return errors


def _reply_error(err: Any) -> tuple[str, str]:
    """Return (path, message) of one way a reply breaks the schema, in JSON's words."""
    loc = [p for p in err["loc"] if not (isinstance(p, str) and p in ("str", "none", "literal['3:2','16:9','1:1','2:3','9:16']"))]
    path = ""
    for p in loc[:-1] if err["type"] == "missing" else loc:
        path += f"[{p}]" if isinstance(p, int) else (f".{p}" if path else str(p))
    value, kind = err.get("input"), err["type"]
    if kind == "missing":
        return path, f"`{loc[-1]}` is missing"
    if kind == "extra_forbidden":
        return path, "unexpected key"
    if kind == "string_pattern_mismatch":
        return path, f"{value!r} does not match {err['ctx']['pattern']}"
    if kind == "literal_error":
        return path, f"{value!r} is not one of {err['ctx']['expected'].replace(chr(39), '')}"
    want = {"list_type": "array", "model_type": "object", "dict_type": "object", "string_type": "string"}.get(kind)
    if want:
        return path, f"expected {want}, got {type(value).__name__}"
    return path, err["msg"]
