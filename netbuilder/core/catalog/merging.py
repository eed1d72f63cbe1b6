"""Merging layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot.

The element-wise merges follow Keras 3's ``Merge`` base class: the inputs' shapes (batch excluded)
are aligned on their last axes and broadcast as NumPy does (a size of 1 stretches, an unknown
size stays unknown), and at most one fixed batch size may appear. Concatenate and Dot mirror the
checks of their own ``build`` and ``compute_output_shape``, including the cases Keras accepts
while building and only refuses at run time (those get a note).
"""

from __future__ import annotations

from typing import Any

from netbuilder.core.catalog.base import (
    Dim,
    Inferred,
    LayerError,
    LayerSpec,
    Param,
    Shape,
    fmt_shape,
    numel,
    register,
)

FAMILY = "Merging"


# --- element-wise merges ---------------------------------------------------------------------


def _channel_fix(a: Shape, b: Shape, verb: str) -> str | None:
    """A concrete fix when two same-rank inputs differ only in their last axis (channels)."""
    if len(a) != len(b) or len(a) < 2 or a[:-1] != b[:-1] or None in (a[-1], b[-1]):
        return None
    small, big = (a, b) if a[-1] < b[-1] else (b, a)  # type: ignore[operator]
    if len(a) in (3, 4, 5):
        conv = {3: "a 1-wide Conv1D", 4: "a 1×1 Conv2D", 5: "a 1×1×1 Conv3D"}[len(a)]
        what = f"{conv} with {big[-1]} filters"
    else:
        what = f"Dense({big[-1]})"
    return (f"insert {what} on the {fmt_shape(small)} branch to match channels, "
            f"or use Concatenate to {verb}")


def _broadcast_fix(a: Shape, b: Shape) -> str:
    fix = _channel_fix(a, b, "stack them instead")
    if fix:
        return fix
    if len(a) != len(b):
        return ("make the branches match (Flatten, Reshape or GlobalAveragePooling on the "
                "higher-rank one; sizes of 1 broadcast) or use Concatenate")
    return ("make the branches match (same strides, pooling and padding on both; sizes of 1 "
            "broadcast) or use Concatenate")


def _broadcast(x: tuple[Dim, ...], y: tuple[Dim, ...]) -> tuple[Dim, ...] | None:
    """Keras' ``_compute_elemwise_op_output_shape`` on shapes without batch; None = refused."""
    if len(x) < len(y):
        x, y = y, x
    if not y:
        return x
    out = list(x[: len(x) - len(y)])
    for i, j in zip(x[len(x) - len(y):], y):
        if i is None or j is None:
            out.append(None)
        elif i == 1:
            out.append(j)
        elif j == 1:
            out.append(i)
        elif i != j:
            return None
        else:
            out.append(i)
    return tuple(out)


def _batch(layer: str, inputs: list[Shape]) -> Dim:
    sizes = {s[0] for s in inputs if s} - {None}
    if len(sizes) > 1:
        raise LayerError(
            f"{layer} cannot merge tensors with different batch sizes: "
            + ", ".join(fmt_shape(s) for s in inputs),
            "give every Input the same batch_size (or none)")
    return next(iter(sizes)) if sizes else None


def _make_elementwise(layer: str, extra_flops: int = 0):  # noqa: ANN202 - returns an InferFn
    def infer(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
        first = inputs[0]
        count = len(inputs)
        if count > 1 and type(first) is tuple and first and inputs.count(first) == count:
            # the usual case (a residual sum): equal shapes give that shape, nothing to note
            return Inferred([first], 0, 0, numel(first) * (count - 1 + extra_flops), [])
        batch = _batch(layer, inputs)
        out: tuple[Dim, ...] = tuple(first[1:])
        for k in range(1, len(inputs)):
            merged = _broadcast(out, tuple(inputs[k][1:]))
            if merged is None:
                # Name the earlier input that clashes with this one (the usual case), else the
                # shape that the earlier inputs broadcast to.
                other = next((inputs[j] for j in range(k)
                              if _broadcast(tuple(inputs[j][1:]), tuple(inputs[k][1:])) is None),
                             (None,) + out)
                raise LayerError(
                    f"{layer}: inputs {fmt_shape(other)} and {fmt_shape(inputs[k])} differ and "
                    "cannot be broadcast together",
                    _broadcast_fix(other, inputs[k]))
            out = merged
        shape = (batch,) + out
        notes = []
        if len(inputs) == 1:
            notes.append(f"{layer} with a single input passes it through unchanged; connect "
                         "another branch")
        if len({len(s) for s in inputs}) > 1:
            notes.append(f"inputs of different ranks are broadcast: "
                         f"{', '.join(fmt_shape(s) for s in inputs)} give {fmt_shape(shape)}")
        flops = numel(shape) * (max(len(inputs) - 1, 0) + extra_flops)
        return Inferred([shape], flops=flops, notes=notes)

    return infer


_ELEMENTWISE = (
    ("Add", "Adds its inputs element by element (residual / skip connections).",
     ("sum", "plus", "residual", "skip", "shortcut", "resnet", "merge", "combine"), 0),
    ("Subtract", "Subtracts the second input from the first, element by element.",
     ("difference", "minus", "merge", "combine", "siamese"), 0),
    ("Multiply", "Multiplies its inputs element by element (gating, attention weights).",
     ("product", "times", "gate", "gating", "squeeze excite", "scale", "merge", "combine"), 0),
    ("Average", "Averages its inputs element by element (e.g. an ensemble of branches).",
     ("mean", "ensemble", "merge", "combine"), 1),
    ("Maximum", "Takes the element-wise maximum of its inputs.",
     ("max", "largest", "merge", "combine"), 0),
    ("Minimum", "Takes the element-wise minimum of its inputs.",
     ("min", "smallest", "merge", "combine"), 0),
)

for _name, _help, _keywords, _extra in _ELEMENTWISE:
    register(LayerSpec(
        type=_name, family=FAMILY,
        help=_help + " Shapes must match, or broadcast where a size is 1.",
        params=(),
        infer=_make_elementwise(_name, _extra),
        # Keras merges accept one input (it passes through); Subtract needs exactly two.
        min_inputs=2 if _name == "Subtract" else 1,
        max_inputs=2 if _name == "Subtract" else None,
        keywords=_keywords,
    ))


# --- Concatenate -----------------------------------------------------------------------------


def _infer_concatenate(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    axis = p["axis"]
    # Keras' build: drop the concatenation axis from each shape (Python indexing, so an axis
    # past a shape's rank is simply not dropped), then every remaining known size must agree.
    reduced: list[tuple[Dim, ...]] = []
    for shape in inputs:
        dims = list(shape)
        if len(dims) > axis:
            if axis < -len(dims):
                raise LayerError(
                    f"Concatenate axis={axis} is out of range for input {fmt_shape(shape)} "
                    f"(axes {-len(dims)}..{len(dims) - 1}, batch included)",
                    "use axis=-1 to join along the channels")
            del dims[axis]
        reduced.append(tuple(dims))
    distinct = set(reduced)
    if len(distinct) > 1:
        ranks = {len(r) for r in distinct}
        if len(ranks) > 1:
            a, b = _pair(inputs, lambda s, t: len(s) != len(t))
            raise LayerError(
                f"Concatenate inputs must have the same rank; got {fmt_shape(a)} and "
                f"{fmt_shape(b)}", "Flatten or Reshape one branch so both have the same rank")
        for i in range(ranks.pop()):
            known = {r[i] for r in distinct} - {None}
            if len(known) > 1:
                j1 = next(j for j, r in enumerate(reduced) if r[i] is not None)
                j2 = next(j for j, r in enumerate(reduced)
                          if r[i] is not None and r[i] != reduced[j1][i])
                batch = i == 0 and axis % len(inputs[0]) != 0
                where = "the batch sizes" if batch else "all other axes"
                raise LayerError(
                    f"Concatenate joins along axis {axis}, so {where} must match; inputs "
                    f"{fmt_shape(inputs[j1])} and {fmt_shape(inputs[j2])} differ",
                    "give every Input the same batch_size" if batch else
                    "make the sizes match (same strides, pooling and padding='same' on both "
                    "branches), or concatenate along the axis that differs")
    # Keras' compute_output_shape: sizes add up along the axis until one is unknown.
    first = inputs[0]
    out = list(first)
    for shape in inputs[1:]:
        if not -len(out) <= axis < len(out):
            raise LayerError(
                f"Concatenate axis={axis} is out of range for input {fmt_shape(first)} "
                f"(axes {-len(first)}..{len(first) - 1}, batch included)",
                "use axis=-1 to join along the channels")
        if out[axis] is None:
            out[axis] = None
            break
        if not -len(shape) <= axis < len(shape):
            raise LayerError(
                f"Concatenate axis={axis} is out of range for input {fmt_shape(shape)} "
                f"(axes {-len(shape)}..{len(shape) - 1}, batch included)",
                "use axis=-1 to join along the channels")
        if shape[axis] is None:
            out[axis] = None
            break
        out[axis] += shape[axis]
    result = tuple(out)
    notes = []
    if len(inputs) == 1:
        notes.append("Concatenate with a single input passes it through unchanged; connect "
                     "another branch")
    if len({len(s) for s in inputs}) > 1:
        notes.append("inputs of different ranks: Keras builds this layer but it fails when the "
                     "model runs; give the branches the same rank")
    if axis == 0 or (axis < 0 and axis == -len(first)):
        notes.append("axis 0 is the batch axis: this stacks samples, not features")
    return Inferred([result], notes=notes)


def _pair(shapes: list[Shape], differ: Any) -> tuple[Shape, Shape]:
    """The first two shapes for which ``differ`` holds (for error messages)."""
    for i, a in enumerate(shapes):
        for b in shapes[i + 1:]:
            if differ(a, b):
                return a, b
    return shapes[0], shapes[-1]


register(LayerSpec(
    type="Concatenate", family=FAMILY,
    help="Joins its inputs along one axis (by default the channels); all other sizes must "
         "match.",
    params=(
        Param("axis", "int", -1,
              "Axis to join along (-1 = last, the channels; the batch axis is 0)."),
    ),
    infer=_infer_concatenate, min_inputs=1, max_inputs=None,
    keywords=("concat", "join", "stack", "merge", "combine", "inception", "densenet", "u-net",
              "skip", "channels"),
    key_params=("axis",),
))


# --- Dot -------------------------------------------------------------------------------------


def _infer_dot(p: dict[str, Any], inputs: list[Shape]) -> Inferred:
    a, b = inputs
    axes = p["axes"]
    if isinstance(axes, int):
        pair = (axes % len(a), axes % len(b)) if axes < 0 else (axes, axes)
    else:
        if len(axes) != 2:
            raise LayerError(
                f"Dot axes must be one axis or a pair (axis of the first input, axis of the "
                f"second), got {fmt_shape(axes)}", "give one or two axes")
        pair = (axes[0], axes[1])
    for shape, ax in ((a, pair[0]), (b, pair[1])):
        if not -len(shape) <= ax < len(shape):
            raise LayerError(
                f"Dot axis {ax} is out of range for input {fmt_shape(shape)} "
                f"(axes {-len(shape)}..{len(shape) - 1}, batch included)",
                "use axes=-1 to take the dot product over the last axis")
    da, db = a[pair[0]], b[pair[1]]
    if da != db:
        raise LayerError(
            f"Dot over axes {pair}: inputs {fmt_shape(a)} and {fmt_shape(b)} have sizes "
            f"{'None' if da is None else da} and {'None' if db is None else db} there",
            "choose axes whose sizes match (and are both known), or add Dense on one branch "
            "to match them")
    left = list(a)
    right = list(b)
    left.pop(pair[0])
    right.pop(pair[1])
    if not right:
        raise LayerError(
            f"Dot needs inputs of rank >= 2 (batch included), got {fmt_shape(a)} and "
            f"{fmt_shape(b)}", "insert Reshape to add a feature axis")
    right.pop(0)
    out = left + right
    if len(out) == 1:
        out.append(1)
    shape = tuple(out)
    notes = []
    if 0 in (pair[0] % len(a), pair[1] % len(b)):
        notes.append("axis 0 is the batch axis: Keras builds this layer but the dot product "
                     "fails when the model runs; use axes counted from 1")
    elif min(len(a), len(b)) < 2:
        notes.append("Dot needs inputs of rank >= 2 (batch included) when the model runs")
    size = da if isinstance(da, int) else 1
    return Inferred([shape], flops=2 * size * numel(shape), notes=notes)


register(LayerSpec(
    type="Dot", family=FAMILY,
    help="Dot product of two inputs over one axis of each (cosine similarity with normalize).",
    params=(
        Param("axes", "axes", -1,
              "Axis to take the dot product over, or a pair (axis of input 1, axis of input "
              "2); the batch axis 0 cannot be used.", required=True),
        Param("normalize", "bool", False,
              "L2-normalise both inputs along the axis first, so the result is the cosine "
              "similarity."),
    ),
    infer=_infer_dot, min_inputs=2, max_inputs=2,
    keywords=("dot product", "similarity", "cosine", "matmul", "inner product", "siamese",
              "merge"),
    key_params=("axes", "normalize"),
))
