"""The story: its schema, loading with file:line errors, checks, templating and adventures."""

from storyboard.story.check import image_problem, is_path, resolve_file, story_relative
from storyboard.story.load import MAX_STORY_BYTES, load_story
from storyboard.story.schema import (
    DEFAULT_MODEL,
    RESERVED,
    Character,
    Choice,
    Frame,
    LoadedStory,
    Outpaint,
    Story,
    json_schema,
)

__all__ = [
    "DEFAULT_MODEL", "MAX_STORY_BYTES", "RESERVED", "Character", "Choice", "Frame", "LoadedStory", "Outpaint",
    "Story", "image_problem", "is_path", "json_schema", "load_story", "resolve_file", "story_relative",
]
