"""pollab model specs as PyTorch modules with pollab's parameter names, shapes and order.

``build_model(spec)`` returns an ``nn.Module`` whose ``named_parameters()`` are exactly the
tensors of pollab's ``models.Parse(spec).Tensors()`` in the same order (``fc1.weight``,
``conv1.bias``, ...), with PyTorch layouts (linear [out, in], conv [out, in, kh, kw]), so a
pollab checkpoint loads with ``load_state_dict`` and a state dict saves as a checkpoint.
Specs: ``mlp:IN-H1-...-OUT:relu|tanh``, ``lenet5``, ``cnn-cifar``, each optionally followed by
``:kaiming`` (an init law only: the module is the same), and ``resnet:N[:CxHxW]`` /
``resnet20[:CxHxW]`` (the PoL reference ResNet, option A, with BatchNorm: its
``named_buffers()`` are pollab's buffers, running statistics in pollab's order, plus PyTorch's
``num_batches_tracked``, which pollab's checkpoints store as the step).
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


class _Block(nn.Module):
    """A ResNet basic block: conv3x3-BN-ReLU-conv3x3-BN plus the option-A shortcut (stride-2
    subsample zero-padded by planes//4 channels on each side), then ReLU."""

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.pad = planes // 4 if stride != 1 or in_planes != planes else 0

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        sc = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad)) if self.pad else x
        return F.relu(out + sc)


class ResNet(nn.Module):
    """The PoL reference model.py's ResNet for CIFAR (He et al.): depth 6n+2, three stages of n
    blocks (16, 32, 64 planes), global average pool, Linear(64, 10); kaiming-normal conv and
    linear weights."""

    def __init__(self, spec, depth, input_shape):
        super().__init__()
        self.spec, self.input_shape, self.classes = spec, list(input_shape), 10
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(input_shape[0], 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        planes_in, stages = 16, []
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for s in [stride] + [1] * (n - 1):
                blocks.append(_Block(planes_in, planes, s))
                planes_in = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(64, 10)
        for m in self.modules():  # model.py's _weights_init: the law pollab's init check tests
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x):
        x = x.reshape([x.shape[0]] + self.input_shape)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, out.size()[2:])
        return self.linear(out.flatten(1))


def _parse_resnet(spec, parts):
    """(canonical spec, input shape, depth) of resnet:N[:CxHxW] / resnet20[:CxHxW] (parts split at ':')."""
    if parts[0] == "resnet20":
        depth_s, opts = "20", parts[1:]
    elif len(parts) >= 2:
        depth_s, opts = parts[1], parts[2:]
    else:
        raise PollabTorchError(f"model spec {spec!r}: want resnet:N[:CxHxW]")
    try:
        depth = int(depth_s)
        shape = [int(v) for v in opts[0].split("x")] if opts else [3, 32, 32]
    except ValueError:
        raise PollabTorchError(f"model spec {spec!r}: depth or input shape is not an integer") from None
    if depth < 8 or (depth - 2) % 6 != 0 or len(opts) > 1 or len(shape) != 3 or min(shape) < 1:
        raise PollabTorchError(f"model spec {spec!r}: want resnet:N[:CxHxW] with N = 6n+2 >= 8")
    canon = f"resnet:{depth}" + ("" if shape == [3, 32, 32] else ":%dx%dx%d" % tuple(shape))
    return canon, shape, depth


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
    elif parts[0] in ("resnet", "resnet20"):
        if kaiming:
            raise PollabTorchError(f"model spec {spec!r}: resnet weights are always kaiming-normal: drop :kaiming")
        canon, shape, depth = _parse_resnet(spec, parts)
        return canon, shape, 10, ("resnet", depth)
    elif parts == ["cnn-cifar"]:
        layers = [("conv", "conv1", (3, 16, 3, 1)), ("relu", None, None), ("pool", None, None),
                  ("conv", "conv2", (16, 32, 3, 1)), ("relu", None, None), ("pool", None, None),
                  ("flatten", None, None),
                  ("linear", "fc1", (2048, 64)), ("relu", None, None),
                  ("linear", "fc2", (64, 10))]
        canon, shape, classes = "cnn-cifar", [3, 32, 32], 10
    else:
        raise PollabTorchError(f"model spec {spec!r}: unknown model (want mlp, lenet5, cnn-cifar or resnet)")
    if kaiming:
        canon += ":kaiming"
    return canon, shape, classes, layers


def build_model(spec, dtype=None):
    """A fresh PollabNet for spec (PyTorch's default init), optionally cast to dtype."""
    canon, shape, classes, layers = _parse(spec)
    if isinstance(layers, tuple):
        m = ResNet(canon, layers[1], shape)
    else:
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


TRACKED_SUFFIX = ".num_batches_tracked"


def buffer_layout(spec):
    """[(name, shape)] of spec's buffers in pollab's flat order (BatchNorm running statistics;
    PyTorch's num_batches_tracked left out: pollab derives it, one per running_mean, = the step)."""
    return [(n, list(b.shape)) for n, b in build_model(spec).named_buffers() if not n.endswith(TRACKED_SUFFIX)]


def tracked_names(spec):
    """The num_batches_tracked entries of spec's state dict, one per "<module>.running_mean"."""
    return [n[:-len(".running_mean")] + TRACKED_SUFFIX for n, _ in buffer_layout(spec) if n.endswith(".running_mean")]


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
    bufs = [(n, list(b.shape)) for n, b in model.named_buffers() if not n.endswith(TRACKED_SUFFIX)]
    if bufs != buffer_layout(spec):
        raise PollabTorchError(f"model does not match spec {spec!r}: buffers {[n for n, _ in bufs][:4]}..., "
                               f"the spec has {[n for n, _ in buffer_layout(spec)][:4]}...")
    dtypes = {str(p.dtype) for p in model.parameters()}
    if dtypes == {"torch.float32"}:
        return "f32"
    if dtypes == {"torch.float64"}:
        return "f64"
    raise PollabTorchError(f"model parameters have dtypes {sorted(dtypes)}, want all float32 or all float64")
