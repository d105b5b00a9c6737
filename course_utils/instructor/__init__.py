"""Instructor and maintainer tools: build, release, grading (``python -m course_utils build|grade|release``).

Not part of the learner distribution: the learner wheel leaves this subpackage out, and no module of the
learner runtime imports it. Install with the ``instructor`` extra (nbval, pytest, nbclient, nbformat).

- ``build``: generate ``notebooks/`` from ``solutions/``
- ``reference_generator``: write ``course_utils/references/`` from the solutions' TODO cells (``build`` calls it;
  ``references`` is its old name, an import alias)
- ``release``: the learner bundle
- ``grading``: grade submitted notebooks with nbval
- ``cli``: the command line
"""
