"""The judge: the verdict of an exercise whose answer is a function of tensors (or, with :mod:`.judge_modules`, an
``nn.Module`` class), computed in the grader.

The learner's kernel runs the learner's code and the restored check cells, and whatever it prints it controls: a
cell that patches the import system can make every in-kernel check print "ok". So for the exercises in
:data:`JUDGED` the points are decided here, in the grader's own process, from values alone:

1. **Record** (:meth:`Session.prepare`, before the notebook runs). The course's own check function of the
   exercise (``course_utils.checks.nbNN.check_*``, visible and hidden checks together) runs in the grader on the
   course's reference, with the seeds of its random inputs mixed with a per-run secret (``secrets.randbits``):
   every ``torch.Generator().manual_seed(s)`` and ``torch.manual_seed(s)`` it calls gets ``mix(secret, s)``. Every
   call it makes to the answer is recorded: its arguments (inputs nobody outside this process knows), and, where
   the check back-propagates through the answer's output, the gradient it sends back (the cotangent).
2. **Ask** (:mod:`.plugin`, after the exercise's check cell ran in the kernel). The grading process sends the
   kernel :func:`kernel_code`: a short, self-contained source (no ``course_utils`` import) that decodes the calls,
   runs the learner's object (the name :data:`references.INDEX` gives) on each, and writes the results (values,
   exceptions, and the gradients reaching the inputs for the recorded cotangents) as ONE line on stdout after a
   per-run marker. Only the stdout of that execute request counts.
3. **Replay** (:meth:`Session.verdict`, in the runner). The same check function runs again, under the same
   secret seeds, on a stand-in for the learner's object that answers each call with the kernel's reply for it
   (:class:`Replay`): the check sees exactly the learner's outputs on the secret inputs, so it passes, fails and
   names the mistake ("you averaged the probabilities", "concat put the LiDAR map's channels first") as it does
   in the learner's own kernel, but the comparison runs here, next to the reference, where the kernel cannot
   reach it. A kernel that made up its answers gets the verdict its made-up values deserve.

Wire format (no pickle): :func:`encode` / :func:`decode`. A tensor is ``{"tensor": {"dtype", "shape", "data"}}``
(``data``: base64 of its little-endian bytes; ``"requires_grad": true`` on an input the check differentiates
through); floats that JSON has no spelling for are ``{"float": "nan"}``; tuples ``{"tuple": [...]}``; dicts
``{"dict": [[key, value], ...]}`` with string keys; an input ``torch.Generator`` as its state,
``{"generator": <uint8 tensor>}``; lists, ints, bools, strings and ``None`` as themselves. A reply
over :data:`MAX_REPLY` bytes, or one that is not well-formed (not JSON, bad base64, a shape that does not match its
bytes, an unknown dtype, nesting deeper than :data:`MAX_DEPTH`, extra keys), fails that exercise with a message
saying so (:class:`Malformed`); it never stops the grader.
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import hashlib
import io
import json
import math
import secrets
import sys
import threading
from dataclasses import dataclass

import torch

MAX_REPLY = 4 << 20          # bytes of one kernel reply (the JSON line after the marker)
MAX_DEPTH = 8                # nesting of lists/tuples/dicts in a value
REQUEST_TIMEOUT = 60.0       # seconds the kernel gets to answer one exercise's calls

DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
          "bfloat16": torch.bfloat16, "int64": torch.int64, "int32": torch.int32, "int16": torch.int16,
          "int8": torch.int8, "uint8": torch.uint8, "bool": torch.bool, "complex64": torch.complex64,
          "complex128": torch.complex128}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


_TORCH_GENERATOR = torch.Generator     # torch's own class (the checks run with a subclass, see secret_seeds)


class Malformed(ValueError):
    """A kernel reply that is not well-formed data."""


# -- encoding -----------------------------------------------------------------------------------------
def encode(value, depth: int = 0):
    """A JSON-able form of ``value`` (tensors, floats, ints, bools, strings, None, lists, tuples, dicts)."""
    if depth > MAX_DEPTH:
        raise ValueError(f"value nested deeper than {MAX_DEPTH}")
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        if t.dtype not in DTYPE_NAMES:
            raise ValueError(f"no wire form for tensors of dtype {t.dtype}")
        data = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        out = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "data": base64.b64encode(data).decode()}
        if value.requires_grad:
            out["requires_grad"] = True
        return {"tensor": out}
    if isinstance(value, _TORCH_GENERATOR):      # an input only: a CPU generator, as its state
        return {"generator": encode(value.get_state(), depth + 1)}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, list):
        return [encode(v, depth + 1) for v in value]
    if isinstance(value, tuple):
        return {"tuple": [encode(v, depth + 1) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": [[k, encode(v, depth + 1)] for k, v in value.items()]}
    raise ValueError(f"no wire form for {type(value).__name__}")


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise Malformed(what)


def decode(obj, depth: int = 0):
    """The value :func:`encode` made ``obj`` from; :class:`Malformed` (saying what is wrong) for anything else."""
    _expect(depth <= MAX_DEPTH, f"a value nested deeper than {MAX_DEPTH}")
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj
    if isinstance(obj, list):
        return [decode(v, depth + 1) for v in obj]
    _expect(isinstance(obj, dict) and len(obj) == 1, f"not a value of the wire format: {str(obj)[:80]}")
    (kind, body), = obj.items()
    if kind == "tensor":
        return _decode_tensor(body)
    if kind == "float":
        _expect(body in ("nan", "inf", "-inf"), f"a float spelled {str(body)[:20]!r}")
        return float(body)
    if kind == "tuple":
        _expect(isinstance(body, list), "a tuple that is not a list of values")
        return tuple(decode(v, depth + 1) for v in body)
    if kind == "dict":
        _expect(isinstance(body, list) and all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
                                               for p in body), "a dict that is not a list of [key, value] pairs")
        return {k: decode(v, depth + 1) for k, v in body}
    if kind == "generator":
        state = decode(body, depth + 1)
        _expect(isinstance(state, torch.Tensor) and state.dtype == torch.uint8, "a generator without its state")
        generator = _TORCH_GENERATOR()
        try:
            generator.set_state(state)
        except RuntimeError:
            raise Malformed("a generator whose state torch does not accept") from None
        return generator
    if kind == "object":            # a value of a type the wire format has no form for (kernel side)
        _expect(isinstance(body, str) and body.isidentifier(), "an object of an unnamed type")
        return type(body, (Opaque,), {})()
    raise Malformed(f"unknown kind of value {kind[:30]!r}")


class Opaque:
    """Stands in for a value of a type the wire format cannot carry (its class has the original's name)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object>"


def _decode_tensor(body) -> torch.Tensor:
    _expect(isinstance(body, dict), "a tensor that is not an object")
    extra = set(body) - {"dtype", "shape", "data", "requires_grad"}
    _expect(not extra, f"a tensor with unknown fields {sorted(extra)}")
    _expect(body.get("dtype") in DTYPES, f"a tensor of unknown dtype {str(body.get('dtype'))[:20]!r}")
    shape = body.get("shape")
    _expect(isinstance(shape, list) and len(shape) <= 16 and
            all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n for n in shape),
            f"a tensor whose shape is not a list of sizes: {str(shape)[:60]}")
    _expect(isinstance(body.get("data"), str), "a tensor without its data")
    try:
        data = base64.b64decode(body["data"], validate=True)
    except (binascii.Error, ValueError):
        raise Malformed("a tensor whose data is not valid base64") from None
    dtype = DTYPES[body["dtype"]]
    count = math.prod(shape)
    itemsize = torch.empty((), dtype=dtype).element_size()
    _expect(len(data) == count * itemsize, f"a tensor of shape {tuple(shape)} and dtype {body['dtype']} with "
                                          f"{len(data)} bytes of data (expected {count * itemsize})")
    if not count:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(data), dtype=dtype).reshape(shape).clone()


def key_of(args, kwargs) -> str:
    """A digest of a call's arguments (their wire form), to match a replayed call with the recorded one."""
    text = json.dumps(encode([list(args), dict(kwargs)]), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


# -- the kernel side ------------------------------------------------------------------------------------
#: Runs in the learner's kernel (untrusted: it imports nothing of the course's). ``{NAME}``, ``{MARKER}`` and
#: ``{CALLS}`` are filled in by :func:`kernel_code`; the function deletes itself, so the namespace is unchanged.
#: Its first line names ``course_utils.checks`` so that a graded release's skipping (``course_utils.skipping``:
#: while an exercise is waited for, cells other than check cells are replaced by a "skipped" line) runs it.
KERNEL_SNIPPET = r'''# the grader's request: runs like a check cell (course_utils.checks), also while later cells are skipped
def _course_judge_{TAG}(name, calls, marker):
    import base64, json, math, sys
    import torch
    names = {DTYPE_NAMES}
    dtypes = {{n: getattr(torch, n) for n in names}}
    def dec(o):
        if isinstance(o, list):
            return [dec(v) for v in o]
        if isinstance(o, dict):
            (kind, body), = o.items()
            if kind == "tensor":
                t = torch.frombuffer(bytearray(base64.b64decode(body["data"])), dtype=dtypes[body["dtype"]]) \
                    if body["data"] else torch.empty(0, dtype=dtypes[body["dtype"]])
                t = t.reshape(body["shape"]).clone()
                return t.requires_grad_(True) if body.get("requires_grad") else t
            if kind == "float":
                return float(body)
            if kind == "generator":
                g = torch.Generator()
                g.set_state(dec(body))
                return g
            if kind == "tuple":
                return tuple(dec(v) for v in body)
            return {{k: dec(v) for k, v in body}}
        return o
    def enc(v, depth=0):
        if depth > 8:
            return {{"object": "TooDeep"}}
        if isinstance(v, torch.Tensor):
            t = v.detach().cpu().contiguous()
            if str(t.dtype).replace("torch.", "") not in names:
                t = t.float()
            data = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
            return {{"tensor": {{"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
                               "data": base64.b64encode(data).decode()}}}}
        if v is None or isinstance(v, (bool, int, str)):
            return v
        if isinstance(v, float):
            return v if math.isfinite(v) else {{"float": repr(v)}}
        if isinstance(v, list):
            return [enc(x, depth + 1) for x in v]
        if isinstance(v, tuple):
            return {{"tuple": [enc(x, depth + 1) for x in v]}}
        if isinstance(v, dict) and all(isinstance(k, str) for k in v):
            return {{"dict": [[k, enc(x, depth + 1)] for k, x in v.items()]}}
        if hasattr(v, "item") and hasattr(v, "dtype") and getattr(v, "shape", None) == ():
            return enc(v.item(), depth)
        if type(v).__module__ == "numpy" and hasattr(v, "shape"):
            return enc(torch.from_numpy(v.copy()), depth)
        return {{"object": type(v).__name__ if type(v).__name__.isidentifier() else "object"}}
    def leaves(v, out):
        if isinstance(v, torch.Tensor):
            if v.requires_grad:
                out.append(v)
        elif isinstance(v, (list, tuple)):
            for x in v:
                leaves(x, out)
        elif isinstance(v, dict):
            for x in v.values():
                leaves(x, out)
        return out
    fn = globals().get(name)
    replies = []
    if fn is None:
        reply = {{"missing": name}}
    else:
        for call in calls:
            args, kwargs = dec(call["args"]), dict(dec(call["kwargs"]))
            inputs = leaves([args, kwargs], [])
            try:
                out = fn(*args, **kwargs)
            except Exception as error:
                replies.append({{"raised": type(error).__name__, "message": str(error)[:2000]}})
                continue
            entry = {{"value": enc(out)}}
            if isinstance(out, torch.Tensor) and out.requires_grad and inputs:
                entry["requires_grad"] = True
                try:
                    cot = dec(call["cotangent"]) if call.get("cotangent") is not None else None
                    if cot is None or tuple(cot.shape) != tuple(out.shape):
                        cot = torch.ones_like(out)
                    grads = torch.autograd.grad(out, inputs, grad_outputs=cot.to(out.dtype), allow_unused=True)
                    entry["grads"] = [None if g is None else enc(g) for g in grads]
                except Exception as error:
                    entry["grads_error"] = f"{{type(error).__name__}}: {{str(error)[:500]}}"
            replies.append(entry)
        reply = {{"replies": replies}}
    sys.stdout.write(marker + json.dumps(reply) + "\n")
    sys.stdout.flush()
try:
    _course_judge_{TAG}({NAME!r}, __import__("json").loads({CALLS!r}), {MARKER!r})
finally:
    del _course_judge_{TAG}
'''


def kernel_code(name: str, calls: list, marker: str) -> str:
    """The source the kernel runs for one exercise: the learner's ``name`` on ``calls`` (wire form)."""
    return KERNEL_SNIPPET.format(TAG="".join(c for c in marker if c.isalnum())[-16:], NAME=name, CALLS=json.dumps(calls), MARKER=marker,
                                 DTYPE_NAMES=sorted(DTYPES))


# -- secret seeds ---------------------------------------------------------------------------------------
_LOCK = threading.Lock()       # the seeds are mixed by patching torch: one check runs at a time in this process
_REAL = (torch.Generator, torch.manual_seed)     # torch's own, taken at import (never a patched one)


def mix(secret: int, seed) -> int:
    """The seed the check gets instead of ``seed``: a 63-bit digest of the per-run secret and ``seed``."""
    digest = hashlib.sha256(f"{secret}:{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class _ThisThreadQuiet:
    """``sys.stdout`` while a check runs here: what this thread prints (the check's ticks) is dropped, what other
    threads print (a batch's progress lines) goes to ``real``."""

    def __init__(self, real):
        self.real, self.thread, self.dropped = real, threading.get_ident(), io.StringIO()

    def write(self, text):
        return (self.dropped if threading.get_ident() == self.thread else self.real).write(text)

    def flush(self):
        if threading.get_ident() != self.thread:
            self.real.flush()

    def __getattr__(self, name):
        return getattr(self.real, name)


@contextlib.contextmanager
def secret_seeds(secret: int):
    """Run a check with every seed it sets mixed with ``secret``, output captured, torch's random state kept."""
    real_generator, real_seed = _REAL

    class Generator(real_generator):
        def manual_seed(self, seed):
            return super().manual_seed(mix(secret, seed))

    def manual_seed(seed):
        return real_seed(mix(secret, seed))

    from course_utils import exercise_state
    state = (set(exercise_state.PASSED), dict(exercise_state.PASSED_WITH), list(exercise_state.WAITING))
    with _LOCK, torch.random.fork_rng(), contextlib.redirect_stdout(_ThisThreadQuiet(sys.stdout)):
        real_seed(mix(secret, "global"))
        torch.Generator, torch.manual_seed = Generator, manual_seed
        try:
            yield
        finally:
            torch.Generator, torch.manual_seed = real_generator, real_seed
            exercise_state.PASSED.clear()
            exercise_state.PASSED.update(state[0])
            exercise_state.PASSED_WITH.clear()
            exercise_state.PASSED_WITH.update(state[1])
            exercise_state.WAITING[:] = state[2]


# -- record and replay ----------------------------------------------------------------------------------
def _grad_leaves(value, out: list) -> list:
    if isinstance(value, torch.Tensor):
        if value.requires_grad:
            out.append(value)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _grad_leaves(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _grad_leaves(v, out)
    return out


class Recorder:
    """Stands in for the answer while the check runs on the reference: records every call."""

    def __init__(self, reference):
        self.reference = reference
        self.calls: list = []          # {"args", "kwargs", "key", "cotangent": tensor or None}

    def __call__(self, *args, **kwargs):
        call = {"args": encode(list(args)), "kwargs": encode(dict(kwargs)), "key": key_of(args, kwargs),
                "cotangent": None}
        self.calls.append(call)
        out = self.reference(*args, **kwargs)
        if isinstance(out, torch.Tensor) and out.requires_grad:
            def keep(grad, call=call):
                call["cotangent"] = grad.detach().clone()
            out.register_hook(keep)
        return out


class ReplayMissing(RuntimeError):
    """The check asked the stand-in for a call the kernel was not asked (it changed its inputs)."""


class _Replayed(torch.autograd.Function):
    """The kernel's output as a node of the grader's graph: its backward hands the inputs the kernel's gradients."""

    @staticmethod
    def forward(ctx, value, cotangent, grads, *inputs):
        ctx.cotangent, ctx.grads = cotangent, grads
        return value.clone()

    @staticmethod
    def backward(ctx, grad_out):
        cot = ctx.cotangent if ctx.cotangent is not None else torch.ones_like(grad_out)
        if cot.shape != grad_out.shape or not torch.allclose(grad_out.to(cot.dtype), cot, atol=1e-6, rtol=1e-5):
            raise ReplayMissing("the check back-propagated a gradient the kernel was not asked for")
        return (None, None, None, *[None if g is None else g.to(grad_out.dtype) for g in ctx.grads])


class Replay:
    """Stands in for the learner's object in the grader: answers each call with the kernel's reply to it."""

    def __init__(self, name: str, calls: list, replies: list):
        self.__name__ = self.__qualname__ = name
        self.by_key: dict = {}
        for call, reply in zip(calls, replies):
            self.by_key.setdefault(call["key"], []).append((call, reply))
        self.missing = ""

    def __call__(self, *args, **kwargs):
        __tracebackhide__ = True
        queue = self.by_key.get(key_of(args, kwargs))
        if not queue:
            self.missing = "the check called the answer on inputs the kernel was not asked about"
            raise ReplayMissing(self.missing)
        call, reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if "raised" in reply:
            raise _exception(reply["raised"], reply["message"])
        value = copy.deepcopy(reply["value"])
        leaves = _grad_leaves([list(args), dict(kwargs)], [])
        if reply.get("requires_grad") and isinstance(value, torch.Tensor) and leaves and torch.is_grad_enabled():
            if "grads_error" in reply:
                raise RuntimeError(reply["grads_error"])
            grads = reply.get("grads") or []
            if len(grads) != len(leaves) or any(g is not None and g.shape != x.shape for g, x in zip(grads, leaves)):
                raise _exception("RuntimeError", "the gradients the kernel sent do not match the inputs")
            return _Replayed.apply(value, call["cotangent"], grads, *leaves)
        return value


_EXCEPTIONS = {e.__name__: e for e in (ValueError, TypeError, RuntimeError, IndexError, KeyError, AttributeError,
                                       ZeroDivisionError, AssertionError, NotImplementedError, ArithmeticError,
                                       OverflowError, LookupError, NameError, UnboundLocalError, RecursionError,
                                       MemoryError)}


def _exception(name: str, message: str) -> BaseException:
    """The learner's exception, re-raised in the grader as the built-in of that name (or one named so)."""
    cls = _EXCEPTIONS.get(name) or type(name if name.isidentifier() else "Error", (Exception,), {})
    return cls(message)


# -- the exercises: the table lives in .judged (no torch import), so the runner can ask it cheaply ------------
from .judged import JUDGED, Spec  # noqa: E402,F401


def _reference(exercise_id: str):
    from course_utils import references
    return references.reference(exercise_id)


def run_check(exercise_id: str, answer, secret: int) -> str:
    """Run the course's check of ``exercise_id`` on ``answer`` under ``secret``'s seeds: ``""`` or the failure."""
    from course_utils.feedback import CheckFailed
    check_fn = JUDGED[exercise_id].check_function()
    with secret_seeds(secret):
        try:
            check_fn(answer)
        except CheckFailed as failure:
            return str(failure)
    return ""


@dataclass
class Request:
    """One exercise's calls, recorded on the reference."""
    exercise: str
    name: str
    calls: list

    def wire(self) -> list:
        return [{"args": c["args"], "kwargs": c["kwargs"],
                 "cotangent": None if c["cotangent"] is None else encode(c["cotangent"])} for c in self.calls]

    def source(self, marker: str) -> str:
        return kernel_code(self.name, self.wire(), marker)


@dataclass
class ModuleRequest:
    """One module exercise's constructions, states and forward calls, recorded on the reference
    (:mod:`.judge_modules`)."""
    exercise: str
    name: str
    calls: list
    instances: list
    states: list

    def wire(self) -> dict:
        from .judge_modules import fixed_states
        return {"instances": self.instances, "states": self.states,
                "fixed": fixed_states(self.calls, len(self.instances)),
                "calls": [{"instance": c["instance"], "state": c["state"], "training": c["training"],
                           "args": c["args"], "kwargs": c["kwargs"],
                           "cotangent": encode(c["cotangent"])} for c in self.calls]}

    def source(self, marker: str) -> str:
        from . import judge_modules
        return judge_modules.kernel_code(self.name, self.wire(), marker)


class Session:
    """The judge of one grading process: its secret, marker, and the recorded calls of each judged check."""

    def __init__(self, secret: int | None = None):
        self.secret = secrets.randbits(64) if secret is None else secret
        self.marker = f"@@course-judge-{secrets.token_hex(8)}@@"
        self.requests: dict = {}         # check id -> Request

    def prepare(self, checks) -> "Session":
        """Record the calls of every judged check among ``checks`` (ids); failures of the reference are errors."""
        for exercise_id in checks:
            if exercise_id not in JUDGED:
                continue
            module = JUDGED[exercise_id].kind == "module"
            if module:
                from .judge_modules import ModuleRecorder
                recorder = ModuleRecorder(_reference(exercise_id))
            else:
                recorder = Recorder(_reference(exercise_id))
            failure = run_check_unwrapped(exercise_id, recorder, self.secret)
            if failure:
                raise RuntimeError(f"the judge's check of {exercise_id} fails on the course's reference under "
                                   f"this run's secret seeds ({failure}); no submission can be judged")
            name = JUDGED[exercise_id].name
            self.requests[exercise_id] = ModuleRequest(exercise_id, name, recorder.calls, recorder.instances,
                                                       recorder.states) if module else \
                Request(exercise_id, name, recorder.calls)
        return self

    def payload(self) -> dict:
        """What the grading process needs (JSON): the marker and, per check id, the source to run in the kernel."""
        return {"marker": self.marker, "max_reply": MAX_REPLY, "timeout": REQUEST_TIMEOUT,
                "requests": {ex: r.source(self.marker) for ex, r in self.requests.items()}}

    def verdict(self, exercise_id: str, answer: dict | None) -> tuple[bool, str]:
        """(passed, message) of a judged check from the grading process's record of the kernel's answer."""
        title = f"Exercise {exercise_id} ({JUDGED[exercise_id].name})"
        if not isinstance(answer, dict):
            return False, f"{title}: the grader could not ask the kernel for your outputs (the check cell did not run)"
        if answer.get("error"):
            return False, f"{title}: the grader's request to the kernel failed: {str(answer['error'])[:300]}"
        request = self.requests[exercise_id]
        try:
            if isinstance(request, ModuleRequest):
                replay = self._module_replay(request, answer.get("reply"), title)
            else:
                replies = self.parse(exercise_id, answer.get("reply"))
                replay = replies if isinstance(replies, str) else Replay(request.name, request.calls, replies)
        except Malformed as error:
            return False, f"{title}: the kernel's answer to the grader is not well-formed data ({error}); no points"
        if isinstance(replay, str):
            return False, f"{title}: {replay}"
        try:
            message = run_check(exercise_id, replay, self.secret)
        except Exception as error:          # the check itself broke on these values: that exercise, not the grader
            return False, f"{title}: the grader could not judge your outputs ({type(error).__name__}: {error})"
        if replay.missing:
            return False, (f"{title}: your {'module' if isinstance(request, ModuleRequest) else 'function'}'s outputs on the grader's inputs could not be checked "
                           f"({replay.missing}); no points")
        return not message, message

    @staticmethod
    def _module_replay(request: "ModuleRequest", text, title: str):
        from . import judge_modules
        parsed = judge_modules.parse(text, len(request.instances), len(request.calls))
        if isinstance(parsed, str):
            return parsed
        inits, replies = parsed
        states = [decode(s) for s in request.states]
        return judge_modules.ModuleReplay(request.name, title, _reference(request.exercise), request.calls, states,
                                          inits, replies)

    def parse(self, exercise_id: str, text) -> list | str:
        """The decoded replies of the kernel (one per recorded call), a str saying what is missing, or Malformed."""
        _expect(isinstance(text, str), "no reply")
        _expect(len(text.encode()) <= MAX_REPLY, f"the reply is larger than {MAX_REPLY >> 20} MiB")
        try:
            reply = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            raise Malformed("the reply is not JSON") from None
        _expect(isinstance(reply, dict) and len(reply) == 1, "the reply is not one JSON object with one field")
        if "missing" in reply:
            return f"the notebook defines no {str(reply['missing'])[:60]!r} for the grader to call"
        entries = reply.get("replies")
        calls = self.requests[exercise_id].calls
        _expect(isinstance(entries, list), "the reply has no list of results")
        _expect(len(entries) == len(calls), f"{len(entries)} results for {len(calls)} calls")
        out = []
        for entry in entries:
            _expect(isinstance(entry, dict), "a result that is not an object")
            if "raised" in entry:
                _expect(set(entry) == {"raised", "message"} and isinstance(entry["raised"], str)
                        and isinstance(entry["message"], str), "an exception without its name and message")
                out.append({"raised": entry["raised"][:80], "message": entry["message"][:2000]})
                continue
            extra = set(entry) - {"value", "requires_grad", "grads", "grads_error"}
            _expect("value" in entry and not extra, f"a result with fields {sorted(entry)}")
            item = {"value": decode(entry["value"]), "requires_grad": entry.get("requires_grad") is True}
            if "grads" in entry:
                _expect(isinstance(entry["grads"], list), "gradients that are not a list")
                item["grads"] = [None if g is None else decode(g) for g in entry["grads"]]
                _expect(all(g is None or isinstance(g, torch.Tensor) for g in item["grads"]),
                        "a gradient that is not a tensor")
            if "grads_error" in entry:
                item["grads_error"] = str(entry["grads_error"])[:500]
            out.append(item)
        return out


def run_check_unwrapped(exercise_id: str, answer, secret: int) -> str:
    """The check's body on ``answer`` without the learner-facing wrapper (whose reference-use test would flag
    the recorder, which calls the reference by design): ``""`` or the failure."""
    from course_utils.feedback import Check, CheckFailed
    check_fn = JUDGED[exercise_id].check_function()
    body = check_fn.__wrapped__
    with secret_seeds(secret):
        try:
            body(Check(exercise_id, JUDGED[exercise_id].name), answer)
        except CheckFailed as failure:
            return str(failure)
    return ""


def judged_checks(checks) -> list:
    """The ids among ``checks`` whose verdict the judge computes."""
    return [c for c in checks if c in JUDGED]
