"""Instructor grading on nbval: ``python -m course_utils grade SUBMISSIONS --out DIR``.

- :mod:`.notebooks`: read submissions, match them to course notebooks, restore check cells by id;
- :mod:`.plugin`: the pytest plugin recording each cell's outcome as a JSON line;
- :mod:`.runner`: one submission in its own process with time and memory limits;
- :mod:`.isolation`: each submission's own folders, environment and (as root) user; ``_launch.py`` starts
  its kernel with them;
- :mod:`.runtime`: the course package a kernel grading notebook NN sees (no reference of NN or later);
- :mod:`.batch`: parallel workers, ``grades.csv`` written row by row, feedback files, ``--resume``;
- :mod:`.publish`: after grading, the roster check (:mod:`.roster`), marking sheets and ``--manual``
  (:mod:`.marking`), Canvas and long CSVs (:mod:`.exports`);
- :mod:`.gradescope`: the Gradescope autograder zip and ``results.json``.

See ``docs/INSTRUCTORS.md``.
"""
