"""Drawing shared by the draft backend and the exports: fonts, text, image operations."""
