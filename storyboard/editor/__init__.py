"""The contact sheet as an editor: the changes file it saves, and `apply`, which writes it into the story."""
