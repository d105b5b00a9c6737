# nbgrader settings for "Multimodal Fusion from First Principles" (nbgrader 0.9.x).
#
# Copy this file into the root of your nbgrader course (beside source/) or merge it into your own
# nbgrader_config.py; docs/INSTRUCTORS.md, "Using the course in an nbgrader course", explains each line.
# nbgrader, its kernels and this file need the course's package importable (`pip install` the graded
# learner release, plus the course's `[instructor]` extra where nbgrader itself runs).
# tests/integration/test_nbgrader.py runs nbgrader with exactly this file.
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, Execute, IgnorePattern,
                                    LimitOutput, SaveAutoGrades)

try:
    from course_utils.instructor.nbgrader_preprocessors import StderrIsNotFailure
except ImportError as error:   # the graded learner release has no instructor tools: nbgrader's process needs them
    raise ImportError(
        "nbgrader_config.py needs the course's instructor tools where nbgrader itself runs (the instructor's "
        "server): pip install 'course_utils[nbgrader]' from the instructor repository there. Learners' kernels "
        "get the graded learner release instead (docs/INSTRUCTORS.md, 'Using the course in an nbgrader course')"
    ) from error

c = get_config()  # noqa: F821  (defined by nbgrader when it loads this file)

# Per-cell time limit. nbgrader's default, 30 s, is shorter than notebook 07's training cell (the whole of
# notebook 07 takes 55-61 s on a quiet 2-core CPU, BENCHMARKS.md); 300 s leaves room for a busy grading
# machine (the course's own grader: --timeout 120 per cell). A cell that runs out of time
# is interrupted and the rest of the notebook still runs, as in the course's grader.
c.Execute.timeout = 300
c.Execute.interrupt_on_timeout = True
# The course's notebooks are saved with the kernelspec "python3": the kernel that has the course's
# package, PyTorch (CPU is enough) and nothing from the solutions.
c.Execute.kernel_name = "python3"

# A check cell a learner deleted is put back (after the TODO cell before it) and run, as in the course's
# grader; nbgrader's default leaves it out.
c.OverwriteCells.add_missing_cells = True

# The student notebooks nbgrader writes into release/ read like the course's own notebooks/.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "✏️ *Your answer here.*"

# nbgrader's default autograde steps, plus StderrIsNotFailure right after Execute: an autograded test
# cell loses its points only when it raises, not when the learner's code (or a library) writes to stderr
# during the check, exactly as in the course's grader.
c.Autograde.autograde_preprocessors = [
    Execute,
    StderrIsNotFailure,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]
