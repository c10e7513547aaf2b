"""What a run leaves on disk: the store, frame files, the manifest, garbage collection."""
