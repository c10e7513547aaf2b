"""The contact sheet: manifest -> index.html and thumbnails."""
