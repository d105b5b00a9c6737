"""A preprocessor that makes nbgrader score check cells the way the course's grader does.

nbgrader gives an autograded test cell 0 points when its output holds an error *or anything written to
stderr*; the course's grader (and the learner's own run) fails a check only when the check raises. A
learner's debugging ``print(..., file=sys.stderr)``, or a library warning raised while a check calls the
learner's code, would cost the exercise under nbgrader alone. :class:`StderrIsNotFailure` runs after
nbgrader's ``Execute`` and turns the stderr streams of autograded test cells into stdout, so that only an
error output costs points. ``docs/nbgrader_config.py`` inserts it into ``autograde`` and ``validate``.

This module imports nbgrader; it is loaded only by nbgrader (through ``nbgrader_config.py``).
"""
from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor


def is_test_cell(cell) -> bool:
    """An autograded test cell: a code cell marked ``grade`` and not ``solution`` in ``metadata.nbgrader``."""
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


class StderrIsNotFailure(NbGraderPreprocessor):
    """In autograded test cells, re-label stderr stream outputs as stdout (the text is kept)."""

    def preprocess_cell(self, cell, resources, index):
        if is_test_cell(cell):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream" and output.get("name") == "stderr":
                    output["name"] = "stdout"
        return cell, resources
