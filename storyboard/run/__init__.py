"""Requests -> images: the scheduler, retries and pacing, and one run end to end."""
