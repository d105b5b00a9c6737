"""Writing learners' submissions for the grading tests: ``<folder>/<learner>/<name>``, one file each."""
from __future__ import annotations

import json
from pathlib import Path


def write_submission(folder: Path, learner: str, name: str, content) -> None:
    """``content``: the file's text or bytes as they are (broken files too), or a notebook (dict) written as JSON."""
    path = folder / learner / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, (str, bytes)):
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    else:
        path.write_text(json.dumps(content, indent=1))
