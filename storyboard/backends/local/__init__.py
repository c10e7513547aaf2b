"""The local backend: Hugging Face diffusers models run in-process (`pip install 'storyboard-chain[local]'`).

The entry point names `plugin` (plugin.py, light); the backend itself (backend.py) imports torch and
diffusers only when the first image is made.
"""

from storyboard.backends.local.plugin import plugin

__all__ = ["plugin"]
