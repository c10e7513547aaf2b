"""The plan: what a run will do. `build.py` turns a story into jobs, `checks.py` checks each job
against its model, `jobs.py` holds the data (Job, Plan). No I/O beyond reading the sizes of source
files. The requests themselves, and their keys: `storyboard/requests.py`."""

from storyboard.plan.build import SHEET_PROMPT, VARIATION_INSTRUCTION, build_plan
from storyboard.plan.jobs import Job, Plan, Reference, Source

__all__ = ["SHEET_PROMPT", "VARIATION_INSTRUCTION", "Job", "Plan", "Reference", "Source", "build_plan"]
