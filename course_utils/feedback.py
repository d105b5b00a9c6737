"""The feedback layer of the exercises: run property checks, print what passed, say what to fix.

A check function is written once per exercise in ``course_utils/checks/nbXX.py``::

    @exercise("02.early_fusion", "EarlyFusionModel")
    def check_early_fusion(check, EarlyFusionModel):
        model = check.build(EarlyFusionModel, 32, 16, 64, 2)       # NotImplementedError -> "not implemented yet"
        out = check.call(model, torch.randn(4, 32), torch.randn(4, 16))
        check.shape(out, (4, 2), "logits")
        ...

The learner's check cell calls ``check_early_fusion(EarlyFusionModel)``. Each passed property
prints a line; the first failed one raises :class:`CheckFailed` whose message names the exercise and
says what to fix; code that still raises ``NotImplementedError`` or returns ``None`` raises
:class:`NotImplementedYet` ("not implemented yet"). Raising is what lets grading see a failure.
"""
from __future__ import annotations

import functools

import torch

from . import exercise_state, provenance, references, skipping


class CheckFailed(AssertionError):
    """An exercise check failed; the message says what to fix."""


class NotImplementedYet(CheckFailed):
    """The exercise still contains its ``raise NotImplementedError()`` stub or a ``None`` placeholder."""


class ReferenceUsed(CheckFailed):
    """The answer is (or wraps) the course's reference of the same exercise, which scores zero."""


class Check:
    """Collects the results of one exercise's checks and prints them as it goes."""

    def __init__(self, exercise_id: str, title: str):
        self.exercise_id = exercise_id
        self.title = title
        self.passed: list[str] = []
        self.none_attributes: list[str] = []   # filled by build(): possible placeholders left as None
        self.hidden_skipped = False             # set by checks.common.hidden() where hidden checks are left out

    # -- reporting -------------------------------------------------------------------------
    def ok(self, message: str) -> None:
        self.passed.append(message)
        print(f"  ✓ {message}")

    def fail(self, message: str):
        __tracebackhide__ = True
        raise CheckFailed(f"Exercise {self.exercise_id} ({self.title}): {message}")

    def reference_used(self, reason: str):
        __tracebackhide__ = True
        raise ReferenceUsed(f"Exercise {self.exercise_id} ({self.title}): your answer {reason}. The course's "
                            "reference of this exercise does not count as your answer: write your own "
                            "implementation (building on earlier exercises' references is fine).")

    def not_implemented(self, what: str):
        __tracebackhide__ = True
        raise NotImplementedYet(f"Exercise {self.exercise_id} ({self.title}): not implemented yet: "
                                f"{what}. Replace the `raise NotImplementedError()` / `None` in the TODO cell.")

    # -- running learner code -----------------------------------------------------------------
    def call(self, fn, *args, what: str | None = None, **kwargs):
        """Call learner code; a ``NotImplementedError`` or a ``None`` result means "not implemented yet"."""
        __tracebackhide__ = True
        name = what or getattr(fn, "__qualname__", None) or type(fn).__name__
        try:
            result = fn(*args, **kwargs)
        except NotImplementedError:
            self.not_implemented(f"{name} still raises NotImplementedError")
        if result is None:
            self.not_implemented(f"{name} returned None")
        return result

    def build(self, cls, *args, **kwargs):
        """Instantiate a learner's class and note its public attributes that are ``None``.

        ``None`` may be a placeholder left in a TODO (``self.gate = None``) or a legitimate value
        (``self.last_weights = None`` until the first forward), so it is not an error by itself: if the
        learner's code later crashes, the crash is reported as "not implemented yet" naming them.
        """
        __tracebackhide__ = True
        obj = self.call(cls, *args, what=f"{getattr(cls, '__name__', cls)}.__init__", **kwargs)
        reason = provenance.holds_reference(self.exercise_id, obj)
        if reason:
            self.reference_used(reason)
        self.none_attributes += [f"{type(obj).__name__}.{name}" for name, value in vars(obj).items()
                                 if not name.startswith("_") and value is None]
        return obj

    # -- properties ------------------------------------------------------------------------------
    def expect(self, condition: bool, passed: str, fix: str) -> None:
        """Record ``passed`` when ``condition`` holds, else fail with ``fix``."""
        __tracebackhide__ = True
        if not condition:
            self.fail(fix)
        self.ok(passed)

    def shape(self, tensor, expected: tuple, what: str) -> None:
        __tracebackhide__ = True
        if not isinstance(tensor, torch.Tensor):
            self.fail(f"{what} should be a torch.Tensor of shape {tuple(expected)}, got {type(tensor).__name__}")
        self.expect(tuple(tensor.shape) == tuple(expected), f"{what} has shape {tuple(expected)}",
                    f"{what} should have shape {tuple(expected)}, got {tuple(tensor.shape)}")

    def close(self, actual, expected, what: str, *, atol: float = 1e-5, rtol: float = 1e-4,
              hint: str = "") -> None:
        """Compare with a reference computation and say by how much it differs (like Karpathy's ``cmp``)."""
        __tracebackhide__ = True
        actual = torch.as_tensor(actual).detach().float().cpu()
        expected = torch.as_tensor(expected).detach().float().cpu()
        if actual.shape != expected.shape:
            self.fail(f"{what}: shape {tuple(actual.shape)} differs from the reference {tuple(expected.shape)}. {hint}")
        diff = (actual - expected).abs().max().item() if actual.numel() else 0.0
        ok = torch.allclose(actual, expected, atol=atol, rtol=rtol)
        self.expect(ok, f"{what} matches the reference (max abs diff {diff:.1e})",
                    f"{what} differs from the reference computation by up to {diff:.3g} "
                    f"(tolerance {atol:g}). {hint}".strip())


def exercise(exercise_id: str, title: str):
    """Turn ``f(check, *args)`` into a learner-facing check ``f(*args)`` for exercise ``exercise_id``."""

    def decorate(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            __tracebackhide__ = True
            install_ipython_handler()          # for notebooks handed out before course_utils.setup() existed
            check = Check(exercise_id, title)
            print(f"Checking exercise {exercise_id}: {title}")
            exercise_state.PASSED.discard(exercise_id)
            exercise_state.PASSED_WITH.pop(exercise_id, None)
            try:
                reason = provenance.reference_route(exercise_id, list(args) + list(kwargs.values()))
                if reason:
                    check.reference_used(reason)
                fn(check, *args, **kwargs)
            except CheckFailed as failure:
                raise failure.with_traceback(None) from None
            except NotImplementedError:
                raise NotImplementedYet(f"Exercise {exercise_id} ({title}): not implemented yet: the code "
                                        "still raises NotImplementedError") from None
            except references.Withheld as error:    # the check builds on an earlier exercise of this release
                raise CheckFailed(f"Exercise {exercise_id} ({title}): this check builds on exercise "
                                  f"{error.exercise_id} ({error.name}), whose reference this release does not "
                                  f"include: make exercise {error.exercise_id}'s check pass in this kernel first"
                                  ) from None
            except Exception as error:  # learner code crashed inside the check: say where
                if check.none_attributes and isinstance(error, (TypeError, AttributeError)):
                    raise NotImplementedYet(
                        f"Exercise {exercise_id} ({title}): not implemented yet: "
                        f"{', '.join(check.none_attributes)} still None ({type(error).__name__}: {error})"
                    ) from None
                where = _learner_frame(error)
                raise CheckFailed(f"Exercise {exercise_id} ({title}): your code raised "
                                  f"{type(error).__name__}: {error}{where}") from None
            exercise_state.PASSED.add(exercise_id)
            if args:
                exercise_state.PASSED_WITH[exercise_id] = args[0]
            if exercise_id in exercise_state.WAITING:       # the skipped cells below may run again
                exercise_state.WAITING.remove(exercise_id)
                print(f"▶️  Exercise {exercise_id} is no longer waited for: re-run the cells below.")
            if check.hidden_skipped:
                print(f"✅ Exercise {exercise_id} ({len(check.passed)} checks): visible checks passed; "
                      "grading also runs hidden checks.")
            else:
                print(f"✅ Exercise {exercise_id} passed ({len(check.passed)} checks).")
            return True

        run.exercise_id = exercise_id
        return run

    return decorate


def _learner_frame(error: BaseException) -> str:
    """' (in <cell line>)' for the innermost frame of the learner's code, if it came from a notebook cell."""
    import traceback
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "course_utils" not in f.filename]
    if not frames:
        return ""
    f = frames[-1]
    return f" (at line {f.lineno}: `{(f.line or '').strip()}`)"


def _show_check_failure(shell, etype, value, tb, tb_offset=None):
    """Show a failed check as one clear line instead of a traceback through the check machinery."""
    mark = "🛠️" if issubclass(etype, NotImplementedYet) else "❌"
    stb = [f"\x1b[31m{mark} {etype.__name__}\x1b[0m: {value}"]
    shell._showtraceback(etype, value, stb)
    return stb


def install_ipython_handler() -> bool:
    """The one-line display of failed checks and, where references are withheld, the skipping hooks, in the running
    IPython (what :func:`course_utils.setup` installs); idempotent. Returns whether an IPython shell was found.

    IPython's custom exception handlers (``set_custom_exc``) display through ``shell._showtraceback``, as
    IPython's own documentation of that hook does: ipykernel overrides it to send the error message nbval and
    the grader read, and there is no public call that shows a traceback of one's own."""
    shell = skipping.running_shell()
    if shell is None:
        return False
    if shell.custom_exceptions != (CheckFailed,):
        shell.set_custom_exc((CheckFailed,), _show_check_failure)
    skipping.install(shell)
    return True


def passed(exercise_id: str) -> bool:
    """Whether the check of ``exercise_id`` has passed in this kernel."""
    return exercise_id in exercise_state.PASSED


def yours_or_reference(exercise_id: str, yours, name: str | None = None):
    """Your implementation once its check has passed, else the course's reference of ``exercise_id``.

    Lets a learner who has not finished an exercise run the rest of the notebook. The reference is looked
    up by exercise id in :mod:`course_utils.references`. Where a graded release withholds it, this raises
    :class:`course_utils.references.Withheld`; in a notebook, :mod:`course_utils.skipping` turns that into
    a line saying which exercise to finish first, and skips the later cells that do more than define things
    until that exercise's check passes.
    """
    install_ipython_handler()                        # for notebooks handed out before course_utils.setup() existed
    if passed(exercise_id):
        return yours
    from . import references
    ref = references.reference(exercise_id)          # Withheld in a graded release
    label = name or getattr(ref, "__name__", "implementation")
    print(f"ℹ️  Using the course's reference {label}: exercise {exercise_id} has not passed its check "
          "yet. Finish it and re-run its check cell to use your own.")
    return ref
