"""Hidden checks, one module per notebook: the parts of a check that compute the answer to judge it.

``checks/nbNN.py`` runs ``hidden/nbNN.py`` through :func:`course_utils.checks.common.hidden` when it is part of
the installation. A graded release that withholds notebook NN leaves ``hidden/nbNN.py`` out (with
``references/nbNN.py``); grading runs with the instructor's package, where every hidden check exists.
"""
