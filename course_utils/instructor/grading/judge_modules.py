"""The judge for exercises whose answer is an ``nn.Module`` class: the grader's weights loaded into the learner's module.

The same record / ask / replay as for functions (:mod:`.judge`), with a module's extra state:

1. **Record.** The course's check runs in the grader on a stand-in for the class (:class:`ModuleRecorder`). Each
   construction builds the course's reference with the check's arguments, under the check's seeds mixed with the
   per-run secret, so its weights are secret too. Every forward call is recorded with the instance it was made on,
   the module's whole ``state_dict`` at that moment (the check may change weights between calls: a zeroed rank
   term, random weights away from the identity), its train/eval mode, its inputs and, where the check
   back-propagates, the cotangent.
2. **Ask.** The kernel (:data:`MODULE_BODY`) constructs the learner's class with the same arguments, reports its own
   initial parameters (names, shapes, values), and before each call copies the recorded state into its module:
   strictly, so a missing or extra parameter, or one of another shape, answers that call with the layout the grader
   expected (names and shapes) instead of an output. It answers each call with the output, the module's public
   tensor attributes afterwards (``last_attn_weights``, ...), and for a recorded cotangent the gradients reaching
   the inputs and every parameter.
3. **Replay.** The check runs again on :class:`ModuleReplay`: each construction builds the reference again (same
   seeds, so the same weights), gives it the learner's own initial parameters (so the check's structural tests,
   "an nn.Parameter of shape (rank, dim + 1, out)", "starts random, not zero", see the learner's module), and on its
   first forward call puts the recorded weights back; each forward answers with the kernel's reply for that
   (instance, state, mode, inputs), and its backward hands the kernel's gradients to the inputs and parameters. So
   the check's comparisons, and the mistakes it names, run here on the learner's outputs for weights and inputs the
   kernel did not choose.
"""
from __future__ import annotations

import copy
import hashlib
import json

import torch
from torch import nn

from . import judge as J

_SKIP = {"__dict__", "__weakref__", "__module__", "__qualname__", "__doc__"}


def _clone_class(ref_cls: type, forward) -> type:
    """A class with the reference's methods but ``forward``, derived from ``nn.Module`` alone: its instances are not
    instances of the reference (which the check's provenance test would reject)."""
    namespace = {}
    for klass in reversed(ref_cls.__mro__):
        if klass in nn.Module.__mro__:
            continue
        namespace.update({k: v for k, v in vars(klass).items() if k not in _SKIP})
    namespace["forward"] = forward
    namespace["__module__"] = "course_judge"
    return type(ref_cls.__name__, (nn.Module,), namespace)


def _state(module: nn.Module) -> dict:
    return {name: t.detach().clone() for name, t in module.state_dict().items()}


def _digest(state: dict) -> str:
    h = hashlib.sha256()
    for name, t in state.items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}:".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _outputs(out) -> list:
    """The tensors of a forward's output: the tensor itself, or those of a tuple/list of them."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for t in out if isinstance(t, torch.Tensor)]
    return []


def _renew(out):
    """``out`` with each of its tensors replaced by a clone (a node of its own in the graph)."""
    if isinstance(out, torch.Tensor):
        return out.clone()
    if isinstance(out, (tuple, list)):
        return type(out)(t.clone() if isinstance(t, torch.Tensor) else t for t in out)
    return out


def _call_key(instance: int, digest: str, training: bool, args, kwargs) -> str:
    return f"{instance}:{digest}:{int(training)}:{J.key_of(args, kwargs)}"


class ModuleRecorder:
    """Stands in for the class while the check runs on the reference: records constructions and forward calls."""

    def __init__(self, ref_cls: type):
        self.ref_cls = ref_cls
        self.instances: list = []       # {"args", "kwargs"} (wire form)
        self.states: list = []          # wire form of each distinct state_dict
        self.digests: dict = {}         # digest -> index in states
        self.calls: list = []           # {"instance", "state", "training", "args", "kwargs", "key", "cotangent"}
        self.__name__ = ref_cls.__name__

    def _state_index(self, module) -> tuple[int, str]:
        state = _state(module)
        digest = _digest(state)
        if digest not in self.digests:
            self.digests[digest] = len(self.states)
            self.states.append(J.encode(state))
        return self.digests[digest], digest

    def __call__(self, *args, **kwargs):
        index = len(self.instances)
        self.instances.append({"args": J.encode(list(args)), "kwargs": J.encode(dict(kwargs))})
        module = self.ref_cls(*args, **kwargs)
        ref_forward, recorder = self.ref_cls.forward, self

        def forward(this, *f_args, **f_kwargs):
            state, digest = recorder._state_index(this)
            call = {"instance": index, "state": state, "training": bool(this.training),
                    "args": J.encode(list(f_args)), "kwargs": J.encode(dict(f_kwargs)),
                    "key": _call_key(index, digest, this.training, f_args, f_kwargs),
                    "own_key": _call_key(index, "own", this.training, f_args, f_kwargs), "cotangent": None}
            recorder.calls.append(call)
            out = _renew(ref_forward(this, *f_args, **f_kwargs))   # hooks see the gradient reaching the outputs
            outputs = _outputs(out)                                     # as returned, not as used inside forward
            call["cotangent"] = [None] * len(outputs)
            for i, t in enumerate(outputs):
                if t.requires_grad:
                    def keep(grad, call=call, i=i):
                        call["cotangent"][i] = grad.detach().clone()
                    t.register_hook(keep)
            return out

        module.__class__ = _clone_class(self.ref_cls, forward)
        return module


# -- the kernel side: the body of the request (the helpers dec/enc/leaves are the function judge's) ----------
MODULE_BODY = r'''    cls = globals().get(name)
    replies, inits = [], []
    if cls is None:
        reply = {{"missing": name}}
    else:
        request = calls
        states = [dec(s) for s in request["states"]]
        objs = []
        def raised(error):
            return {{"raised": type(error).__name__, "message": str(error)[:2000]}}
        for inst in request["instances"]:
            try:
                obj = cls(*dec(inst["args"]), **dict(dec(inst["kwargs"])))
                if not isinstance(obj, torch.nn.Module):
                    raise TypeError(f"{{name}}(...) made a {{type(obj).__name__}}, not a torch.nn.Module")
                sd = obj.state_dict(keep_vars=True)
                simple = (bool, int, float, str, type(None))
                tree = [[path, type(m).__module__, type(m).__qualname__,
                         enc({{**{{k: v for k, v in vars(m).items() if isinstance(v, simple) or
                                 (isinstance(v, tuple) and all(isinstance(x, simple) for x in v))}},
                              "__none_params__": [k for k, v in m._parameters.items() if v is None]}})]
                        for path, m in list(obj.named_modules())[:200]]
                inits.append({{"state": enc({{k: v.detach() for k, v in sd.items()}}),
                              "params": [n for n, _ in obj.named_parameters()],
                              "frozen": [n for n, p in obj.named_parameters() if not p.requires_grad],
                              "tree": tree}})
            except Exception as error:
                obj = None
                inits.append(raised(error))
            objs.append(obj)
        for call in request["calls"]:
            obj = objs[call["instance"]]
            if obj is None:
                replies.append({{"raised": "RuntimeError", "message": "the module could not be constructed"}})
                continue
            want, have = states[call["state"]], obj.state_dict(keep_vars=True)
            missing = [k for k in want if k not in have]
            extra = [k for k in have if k not in want]
            shapes = [[k, list(have[k].shape), list(want[k].shape)] for k in want
                      if k in have and tuple(have[k].shape) != tuple(want[k].shape)]
            own = bool(missing or extra or shapes)
            if own and not request["fixed"][call["instance"]]:
                replies.append({{"layout": {{"missing": missing[:20], "extra": extra[:20], "shapes": shapes[:20]}}}})
                continue
            try:
                with torch.no_grad():
                    for k, v in ({{}} if own else want).items():
                        have[k].copy_(v)
                obj.train(call["training"])
                args, kwargs = dec(call["args"]), dict(dec(call["kwargs"]))
                inputs = leaves([args, kwargs], [])
                out = obj(*args, **kwargs)
            except Exception as error:
                replies.append(raised(error))
                continue
            attrs = {{k: v for k, v in vars(obj).items() if not k.startswith("_") and isinstance(v, torch.Tensor)}}
            entry = {{"value": enc(out), "attrs": enc(attrs)}}
            params = [(n, p) for n, p in obj.named_parameters() if p.requires_grad]
            outs = [out] if isinstance(out, torch.Tensor) else \
                [t for t in out if isinstance(t, torch.Tensor)] if isinstance(out, (tuple, list)) else []
            cots = dec(call["cotangent"]) if call.get("cotangent") is not None else []
            pairs = [(o, c) for o, c in zip(outs, cots) if c is not None and o.requires_grad
                     and tuple(o.shape) == tuple(c.shape)]
            if pairs and len(outs) == len(cots):
                entry["requires_grad"] = True
                try:
                    grads = torch.autograd.grad([o for o, _ in pairs], inputs + [p for _, p in params],
                                                grad_outputs=[c.to(o.dtype) for o, c in pairs], allow_unused=True)
                    entry["grads"] = [None if g is None else enc(g) for g in grads[:len(inputs)]]
                    entry["param_grads"] = enc({{n: g for (n, _), g in zip(params, grads[len(inputs):])}})
                except Exception as error:
                    entry["grads_error"] = f"{{type(error).__name__}}: {{str(error)[:500]}}"
            replies.append(entry)
        reply = {{"inits": inits, "replies": replies}}
'''


def kernel_code(name: str, request: dict, marker: str) -> str:
    """The source the kernel runs for one module exercise (the function judge's snippet with the module body)."""
    head, rest = J.KERNEL_SNIPPET.split("    fn = globals().get(name)\n", 1)
    tail = rest[rest.index("    sys.stdout.write(marker"):]
    template = head + MODULE_BODY + tail
    return template.format(TAG="".join(c for c in marker if c.isalnum())[-16:], NAME=name,
                           CALLS=json.dumps(request), MARKER=marker, DTYPE_NAMES=sorted(J.DTYPES))


# -- the grader side: parse and replay ---------------------------------------------------------------------
def parse(text, n_instances: int, n_calls: int):
    """``(inits, replies)`` decoded from the kernel's reply, a str saying what is missing, or :class:`Malformed`."""
    expect = J._expect
    expect(isinstance(text, str), "no reply")
    expect(len(text.encode()) <= J.MAX_REPLY, f"the reply is larger than {J.MAX_REPLY >> 20} MiB")
    try:
        reply = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise J.Malformed("the reply is not JSON") from None
    expect(isinstance(reply, dict), "the reply is not a JSON object")
    if set(reply) == {"missing"}:
        return f"the notebook defines no {str(reply['missing'])[:60]!r} for the grader to call"
    expect(set(reply) == {"inits", "replies"}, f"a reply with fields {sorted(reply)[:5]}")
    inits, entries = reply["inits"], reply["replies"]
    expect(isinstance(inits, list) and len(inits) == n_instances, f"not {n_instances} constructions")
    expect(isinstance(entries, list) and len(entries) == n_calls, f"not {n_calls} results")
    out_inits = []
    for init in inits:
        expect(isinstance(init, dict), "a construction that is not an object")
        if "raised" in init:
            out_inits.append(_raised(init))
            continue
        expect(set(init) == {"state", "params", "frozen", "tree"}, f"a construction with fields {sorted(init)[:5]}")
        tree = init["tree"]
        expect(isinstance(tree, list) and len(tree) <= 200 and all(
            isinstance(t, list) and len(t) == 4 and all(isinstance(x, str) for x in t[:3]) for t in tree),
            "a module tree of another form")
        paths: set = set()
        for path, *_ in tree:
            parent = path.rpartition(".")[0]
            expect(not paths if not path else parent in paths, f"a module tree where {path[:60]!r} comes before "
                                                               "its parent (or without its root first)")
            paths.add(path)
        tree = [[path, module, qualname, J.decode(attrs)] for path, module, qualname, attrs in tree]
        expect(all(isinstance(t[3], dict) for t in tree), "module attributes that are not a dict")
        state = J.decode(init["state"])
        expect(isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values()),
               "a module state that is not a dict of tensors")
        names = init["params"], init["frozen"]
        expect(all(isinstance(n, list) and all(isinstance(s, str) for s in n) for n in names),
               "parameter names that are not a list of strings")
        out_inits.append({"state": state, "params": names[0], "frozen": set(names[1]), "tree": tree})
    out = []
    for entry in entries:
        expect(isinstance(entry, dict), "a result that is not an object")
        if "raised" in entry:
            out.append(_raised(entry))
            continue
        if "layout" in entry:
            layout = entry["layout"]
            expect(set(entry) == {"layout"} and isinstance(layout, dict) and set(layout) == {"missing", "extra", "shapes"}
                   and all(isinstance(v, list) for v in layout.values()), "a layout report of another form")
            out.append({"layout": {k: [str(x)[:200] for x in v[:20]] for k, v in layout.items()}})
            continue
        extra = set(entry) - {"value", "attrs", "requires_grad", "grads", "param_grads", "grads_error"}
        expect("value" in entry and "attrs" in entry and not extra, f"a result with fields {sorted(entry)[:6]}")
        item = {"value": J.decode(entry["value"]), "attrs": J.decode(entry["attrs"]),
                "requires_grad": entry.get("requires_grad") is True}
        expect(isinstance(item["attrs"], dict) and all(isinstance(v, torch.Tensor) for v in item["attrs"].values())
               and all(k.isidentifier() and not k.startswith("_") for k in item["attrs"]),
               "module attributes that are not a dict of tensors under public names")
        if "grads" in entry:
            expect(isinstance(entry["grads"], list), "gradients that are not a list")
            item["grads"] = [None if g is None else J.decode(g) for g in entry["grads"]]
            item["param_grads"] = J.decode(entry.get("param_grads", {"dict": []}))
            expect(all(g is None or isinstance(g, torch.Tensor) for g in item["grads"]) and
                   isinstance(item["param_grads"], dict) and
                   all(g is None or isinstance(g, torch.Tensor) for g in item["param_grads"].values()),
                   "a gradient that is not a tensor")
        if "grads_error" in entry:
            item["grads_error"] = str(entry["grads_error"])[:500]
        out.append(item)
    return out_inits, out


def _raised(entry) -> dict:
    J._expect(set(entry) == {"raised", "message"} and isinstance(entry["raised"], str)
              and isinstance(entry["message"], str), "an exception without its name and message")
    return {"raised": entry["raised"][:80], "message": entry["message"][:2000]}


def layout_message(layout: dict) -> str:
    """What the grader expected of the module's parameters, in words."""
    parts = []
    if layout["missing"]:
        parts.append("it has no " + ", ".join(f"`{n}`" for n in layout["missing"]))
    if layout["extra"]:
        parts.append("it has " + ", ".join(f"`{n}`" for n in layout["extra"]) + " besides")
    for shape in layout["shapes"]:
        parts.append(f"a parameter has another shape than expected (name, yours, expected): {shape}")
    return ("the grader loads its own weights into your module by the parameter names and shapes of the "
            "template, and your module's differ: " + "; ".join(parts) + ". Keep the layout the exercise's "
            "skeleton names.")


class _ReplayedModule(torch.autograd.Function):
    """The kernel's outputs as a node of the grader's graph: gradients to the inputs and parameters from the kernel,
    for the cotangents recorded on the reference (any other gradient reaching the outputs is a call not asked)."""

    @staticmethod
    def forward(ctx, values, cotangents, grads, *leaves):
        ctx.cotangents, ctx.grads = cotangents, grads
        return tuple(v.clone() for v in values)

    @staticmethod
    def backward(ctx, *grad_outs):
        for cot, grad in zip(ctx.cotangents, grad_outs):
            want = torch.zeros_like(grad) if cot is None else cot
            if want.shape != grad.shape or not torch.allclose(grad.to(want.dtype), want, atol=1e-6, rtol=1e-5):
                raise J.ReplayMissing("the check back-propagated a gradient the kernel was not asked for")
        return (None, None, None, *[None if g is None else g.to(grad_outs[0].dtype) for g in ctx.grads])


def _owner(module: nn.Module, name: str):
    """``(submodule, leaf)`` holding the parameter/buffer ``name`` (dotted), or ``(None, leaf)``."""
    *path, leaf = name.split(".")
    for part in path:
        module = module._modules.get(part)
        if module is None:
            return None, leaf
    return module, leaf


def _adopt(module: nn.Module, init: dict) -> None:
    """Give the stand-in the learner's own initial parameters (names, shapes, values, requires_grad)."""
    learner = init["state"]
    for name in list(module.state_dict(keep_vars=True)):
        if name not in learner:
            owner, leaf = _owner(module, name)
            owner._parameters.pop(leaf, None)
            owner._buffers.pop(leaf, None)
    params = set(init["params"])
    for name, value in learner.items():
        owner, leaf = _owner(module, name)
        if owner is None:
            continue
        if name in params:
            owner._buffers.pop(leaf, None)
            owner._parameters[leaf] = nn.Parameter(value.clone(), requires_grad=name not in init["frozen"]) \
                if value.is_floating_point() or value.is_complex() else nn.Parameter(value.clone(), False)
        else:
            owner._parameters.pop(leaf, None)
            owner._buffers[leaf] = value.clone()


class ModuleReplay:
    """Stands in for the learner's class in the grader: instances answer forward calls with the kernel's replies."""

    def __init__(self, name: str, title: str, ref_cls: type, recorder_calls: list, states: list, inits: list,
                 replies: list):
        self.__name__ = self.__qualname__ = name
        self.title = title
        self.ref_cls, self.inits = ref_cls, inits
        self.states = states            # decoded state dicts, by index
        self.by_key: dict = {}
        self.first: dict = {}           # instance -> the recorded state of its first call
        self.by_own: dict = {}
        for call, reply in zip(recorder_calls, replies):
            self.by_key.setdefault(call["key"], []).append((call, reply))
            self.by_own.setdefault(call["own_key"], []).append((call, reply))
            self.first.setdefault(call["instance"], call["state"])
        self.fixed = fixed_states(recorder_calls, len(inits))
        self.built = 0
        self.missing = ""

    def __call__(self, *args, **kwargs):
        __tracebackhide__ = True
        index = self.built
        self.built += 1
        if index >= len(self.inits):
            self.missing = "the check built more modules than the kernel was asked to"
            raise J.ReplayMissing(self.missing)
        init = self.inits[index]
        module = self.ref_cls(*args, **kwargs)           # the same seeds as the record: the same weights
        if "raised" in init:
            raise J._exception(init["raised"], init["message"])
        replay, started = self, []
        first = self.first.get(index)
        layout = _layout_of(init["state"], self.states[first]) if first is not None else {}
        own = bool(layout) and self.fixed[index]         # another layout, weights the check never changes

        def forward(this, *f_args, **f_kwargs):
            __tracebackhide__ = True
            if not started:                              # the grader's weights, as the kernel had them
                started.append(True)
                if layout and not own:
                    from course_utils.feedback import CheckFailed
                    raise CheckFailed(f"{replay.title}: {layout_message(layout)}")
                if first is not None and not own:
                    _load(this, replay.states[first])
            key = _call_key(index, "own", this.training, f_args, f_kwargs) if own else \
                _call_key(index, _digest(_state(this)), this.training, f_args, f_kwargs)
            queue = (replay.by_own if own else replay.by_key).get(key)
            if not queue:
                replay.missing = "the check called your module on inputs or weights the kernel was not asked about"
                raise J.ReplayMissing(replay.missing)
            call, reply = queue.pop(0) if len(queue) > 1 else queue[0]
            if "layout" in reply:
                from course_utils.feedback import CheckFailed
                raise CheckFailed(f"{replay.title}: {layout_message(reply['layout'])}")
            if "raised" in reply:
                raise J._exception(reply["raised"], reply["message"])
            for key, value in reply["attrs"].items():         # plain attributes only (parse checked the names)
                if not (hasattr(type(this), key) or key in this._parameters or key in this._buffers
                        or key in this._modules):
                    this.__dict__[key] = value.clone()
            value = copy.deepcopy(reply["value"])
            inputs = J._grad_leaves([list(f_args), dict(f_kwargs)], [])
            params = [(n, p) for n, p in this.named_parameters() if p.requires_grad]
            outputs = _outputs(value)
            if reply.get("requires_grad") and outputs and torch.is_grad_enabled() and (inputs or params):
                if "grads_error" in reply:
                    raise RuntimeError(reply["grads_error"])
                grads, pgrads = reply.get("grads") or [], reply.get("param_grads") or {}
                if len(grads) != len(inputs) or any(g is not None and g.shape != x.shape for g, x in zip(grads, inputs)):
                    raise J._exception("RuntimeError", "the gradients the kernel sent do not match the inputs")
                per_param = [pgrads.get(n) for n, _ in params]
                if any(g is not None and g.shape != p.shape for g, (_, p) in zip(per_param, params)):
                    raise J._exception("RuntimeError", "the gradients the kernel sent do not match the parameters")
                cots = call["cotangent"]
                if len(cots) != len(outputs) or any(c is not None and c.shape != o.shape for c, o in zip(cots, outputs)):
                    raise J._exception("RuntimeError", "your module's outputs are not those the grader recorded")
                linked = iter(_ReplayedModule.apply(outputs, cots, grads + per_param, *inputs, *[p for _, p in params]))
                if isinstance(value, torch.Tensor):
                    return next(linked)
                return type(value)(next(linked) if isinstance(v, torch.Tensor) else v for v in value)
            return value

        if own:
            return _mirror(init, _clone_class(self.ref_cls, forward))
        module.__class__ = _clone_class(self.ref_cls, forward)
        _adopt(module, init)
        return module


def fixed_states(calls: list, n_instances: int) -> list:
    """Per instance, whether the check calls it with one state only (it never changes the module's weights)."""
    seen: dict = {}
    for call in calls:
        seen.setdefault(call["instance"], set()).add(call["state"])
    return [len(seen.get(i, ())) <= 1 for i in range(n_instances)]


_TORCH_MODULES = "torch.nn.modules."


def _mirror(init: dict, root_cls: type) -> nn.Module:
    """The learner's module rebuilt in the grader from the kernel's report: ``root_cls`` (the replayed forward) at
    the root, torch's own layers (``torch.nn.modules.*``) for torch's submodules, with their configuration, and an
    empty ``nn.Module`` named like the learner's class for the learner's own submodules; then its parameters and
    buffers. No learner code runs: torch's layers compute with torch's code, a learner's submodule cannot be called."""
    import importlib
    modules: dict = {}
    for path, module_name, qualname, attrs in init["tree"]:
        cls = None
        if path and module_name.startswith(_TORCH_MODULES) and qualname.isidentifier():
            try:
                cls = getattr(importlib.import_module(module_name), qualname)
            except (ImportError, AttributeError):
                cls = None
            if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
                cls = None
        if not path:
            cls = root_cls
        elif cls is None:
            cls = type(qualname if qualname.isidentifier() else "Module", (nn.Module,), {"__module__": "learner"})
        module = cls.__new__(cls)
        nn.Module.__init__(module)
        internals = set(vars(module))                    # nn.Module's own bookkeeping is never the kernel's
        for key, value in attrs.items():
            if isinstance(key, str) and key.isidentifier() and key not in internals and not key.startswith("__") \
                    and not hasattr(cls, key):
                module.__dict__[key] = tuple(value) if isinstance(value, list) else value
        module.training = bool(attrs.get("training", True))
        none_params = attrs.get("__none_params__")
        if isinstance(none_params, list):
            module._parameters.update({name: None for name in none_params if isinstance(name, str)})
        modules[path] = module
        if path:
            parent, _, leaf = path.rpartition(".")
            if parent not in modules:
                raise J.Malformed(f"a module tree where {path!r} comes before its parent")
            modules[parent]._modules[leaf] = module
    root = modules.get("")
    if root is None:
        raise J.Malformed("a module tree without its root")
    _adopt(root, init)
    return root


def _layout_of(learner: dict, state: dict) -> dict:
    """Where the learner's state (name -> tensor) differs in names or shapes from ``state`` ({} where they agree)."""
    layout = {"missing": [k for k in state if k not in learner], "extra": [k for k in learner if k not in state],
              "shapes": [str([k, list(learner[k].shape), list(state[k].shape)]) for k in state
                         if k in learner and tuple(learner[k].shape) != tuple(state[k].shape)]}
    return layout if any(layout.values()) else {}


def _layout(module: nn.Module, state: dict) -> dict:
    """Where the module's parameters and buffers differ in name or shape from ``state`` ({} where they agree)."""
    return _layout_of(module.state_dict(keep_vars=True), state)


def _load(module: nn.Module, state: dict) -> None:
    """Copy ``state`` into the module in place where names and shapes agree (the check holds its parameters)."""
    have = module.state_dict(keep_vars=True)
    with torch.no_grad():
        for name, value in state.items():
            if name in have and have[name].shape == value.shape:
                have[name].copy_(value)
