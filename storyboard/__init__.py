"""storyboard: a YAML story becomes chained image-model requests, numbered frames and a contact sheet."""

__version__ = "0.1.0"
