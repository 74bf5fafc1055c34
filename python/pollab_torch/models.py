"""pollab model specs as PyTorch modules with pollab's parameter names, shapes and order.

``build_model(spec)`` returns an ``nn.Module`` whose ``named_parameters()`` are exactly the
tensors of pollab's ``models.Parse(spec).Tensors()`` in the same order (``fc1.weight``,
``conv1.bias``, ...), with PyTorch layouts (linear [out, in], conv [out, in, kh, kw]), so a
pollab checkpoint loads with ``load_state_dict`` and a state dict saves as a checkpoint.
Specs: ``mlp:IN-H1-...-OUT:relu|tanh``, ``lenet5``, ``cnn-cifar``, each optionally followed by
``:kaiming`` (an init law only: the module is the same).
"""

import torch.nn as nn
import torch.nn.functional as F

from .errors import PollabTorchError


class PollabNet(nn.Module):
    """A sequential pollab network: layers is a list of (kind, name, args)."""

    def __init__(self, spec, input_shape, classes, layers):
        super().__init__()
        self.spec, self.input_shape, self.classes = spec, list(input_shape), classes
        self._plan = []
        for kind, name, args in layers:
            if kind == "linear":
                setattr(self, name, nn.Linear(*args))
            elif kind == "conv":
                cin, cout, k, pad = args
                setattr(self, name, nn.Conv2d(cin, cout, k, padding=pad))
            self._plan.append((kind, name))

    def forward(self, x):
        x = x.reshape([x.shape[0]] + self.input_shape)
        for kind, name in self._plan:
            if kind in ("linear", "conv"):
                x = getattr(self, name)(x)
            elif kind == "relu":
                x = F.relu(x)
            elif kind == "tanh":
                x = x.tanh()
            elif kind == "pool":
                x = F.max_pool2d(x, 2)
            elif kind == "flatten":
                x = x.flatten(1)
        return x


def canonical_spec(spec):
    """pollab's canonical form of spec (widths without leading zeros), or PollabTorchError."""
    return _parse(spec)[0]


def _parse(spec):
    parts = spec.strip().split(":")
    kaiming = len(parts) > 1 and parts[-1] == "kaiming"
    if kaiming:
        parts = parts[:-1]
    if parts[0] == "mlp":
        if len(parts) != 3 or parts[2] not in ("relu", "tanh"):
            raise PollabTorchError(f"model spec {spec!r}: want mlp:IN-H1-...-OUT:relu|tanh")
        try:
            widths = [int(w) for w in parts[1].split("-")]
        except ValueError:
            raise PollabTorchError(f"model spec {spec!r}: widths are not integers") from None
        if len(widths) < 2 or min(widths) < 1:
            raise PollabTorchError(f"model spec {spec!r}: need positive input and output widths")
        layers = []
        for i in range(1, len(widths)):
            if i > 1:
                layers.append((parts[2], None, None))
            layers.append(("linear", f"fc{i}", (widths[i - 1], widths[i])))
        canon = "mlp:" + "-".join(map(str, widths)) + ":" + parts[2]
        shape, classes = [widths[0]], widths[-1]
    elif parts == ["lenet5"]:
        layers = [("conv", "conv1", (1, 6, 5, 2)), ("relu", None, None), ("pool", None, None),
                  ("conv", "conv2", (6, 16, 5, 0)), ("relu", None, None), ("pool", None, None),
                  ("flatten", None, None),
                  ("linear", "fc1", (400, 120)), ("relu", None, None),
                  ("linear", "fc2", (120, 84)), ("relu", None, None),
                  ("linear", "fc3", (84, 10))]
        canon, shape, classes = "lenet5", [1, 28, 28], 10
    elif parts == ["cnn-cifar"]:
        layers = [("conv", "conv1", (3, 16, 3, 1)), ("relu", None, None), ("pool", None, None),
                  ("conv", "conv2", (16, 32, 3, 1)), ("relu", None, None), ("pool", None, None),
                  ("flatten", None, None),
                  ("linear", "fc1", (2048, 64)), ("relu", None, None),
                  ("linear", "fc2", (64, 10))]
        canon, shape, classes = "cnn-cifar", [3, 32, 32], 10
    else:
        raise PollabTorchError(f"model spec {spec!r}: unknown model (want mlp, lenet5 or cnn-cifar)")
    if kaiming:
        canon += ":kaiming"
    return canon, shape, classes, layers


def build_model(spec, dtype=None):
    """A fresh PollabNet for spec (PyTorch's default init), optionally cast to dtype."""
    canon, shape, classes, layers = _parse(spec)
    m = PollabNet(canon, shape, classes, layers)
    return m.to(dtype) if dtype is not None else m


def input_dim(spec):
    """Features per sample of spec's input."""
    shape = _parse(spec)[1]
    n = 1
    for s in shape:
        n *= s
    return n


def tensor_layout(spec):
    """[(name, shape)] of spec's parameters in pollab's flat order."""
    return [(n, list(p.shape)) for n, p in build_model(spec).named_parameters()]


def check_model(model, spec):
    """Raise PollabTorchError unless model's parameters are exactly spec's tensors (names,
    shapes, order) and all share one dtype, float32 or float64; return that dtype's name."""
    want = tensor_layout(spec)
    got = [(n, list(p.shape)) for n, p in model.named_parameters()]
    if got != want:
        for i, (g, w) in enumerate(zip(got, want)):
            if g != w:
                raise PollabTorchError(f"model does not match spec {spec!r}: parameter {i} is {g[0]} {g[1]}, "
                                       f"the spec wants {w[0]} {w[1]}")
        raise PollabTorchError(f"model does not match spec {spec!r}: {len(got)} parameters, the spec has {len(want)}")
    dtypes = {str(p.dtype) for p in model.parameters()}
    if dtypes == {"torch.float32"}:
        return "f32"
    if dtypes == {"torch.float64"}:
        return "f64"
    raise PollabTorchError(f"model parameters have dtypes {sorted(dtypes)}, want all float32 or all float64")
