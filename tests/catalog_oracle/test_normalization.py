"""Normalization layers against Keras: shapes, parameter counts (trainable gamma/beta, the
non-trainable moving statistics) and refusals over generated cases."""

from hypothesis import example, given
from hypothesis import strategies as st
from oracle import check_layer, params_strategy

from netbuilder.core import catalog

batch = st.none() | st.none() | st.integers(1, 3)
dim = st.sampled_from((1, 2, 3, 4, 6, 8, 12, None))


def any_shape(ranks=(2, 3, 4, 2, 3, 4, 1, 5)):
    """Any rank, batch sometimes fixed, any dim sometimes unknown."""
    return st.sampled_from(ranks).flatmap(lambda r: st.tuples(batch, *[dim] * (r - 1)))


axis = st.sampled_from((-1, -1, 1)) | st.integers(-6, 5)
axes = axis | st.lists(st.integers(-5, 4), min_size=1, max_size=3)
number = st.floats(-2.0, 6.0, allow_nan=False)
clipping = (st.none() | st.just({})
            | st.fixed_dictionaries({}, optional={"rmax": number, "rmin": number,
                                                  "dmax": number})
            | st.just({"rmax": 3, "bogus": 1}) | st.just("rmax"))


@given(params_strategy(catalog.get("BatchNormalization"), {
    "axis": axis,
    "momentum": st.floats(-1.0, 2.0),
    "epsilon": st.floats(-1e-3, 1.0),
    "renorm_clipping": clipping,
    "renorm_momentum": st.floats(0.0, 1.0),
}), any_shape())
@example({}, (None, 5))
@example({}, (None, None))
@example({"axis": 2}, (None, 5))
@example({"axis": 1}, (None, 4, None, 4))
@example({"renorm": True}, (None, 3, 7))
@example({"renorm": True, "renorm_clipping": {"rmax": 1, "rmin": 2}}, (None, 3))
@example({"renorm": True, "renorm_clipping": {"dmax": -1}}, (None, 3))
@example({"renorm": True, "renorm_clipping": {"other": 1}}, (None, 3))
@example({"renorm": False, "renorm_clipping": {"other": 1}}, (None, 3))
@example({"axis": 0}, (2, 3))
@example({"center": False, "scale": False, "synchronized": True}, (None, 6))
def test_batch_normalization(params, shape):
    check_layer("BatchNormalization", params, [shape])


@given(params_strategy(catalog.get("LayerNormalization"), {
    "axis": axes, "epsilon": st.floats(-1e-3, 1.0)}), any_shape())
@example({}, (None, 8))
@example({"axis": [1, 2]}, (None, 3, 4))
@example({"axis": [2, -1]}, (None, 3, 4))
@example({"axis": [1, 3]}, (None, 3, 4))
@example({"axis": 1}, (None, None, 4))
def test_layer_normalization(params, shape):
    check_layer("LayerNormalization", params, [shape])


@given(st.tuples(
    params_strategy(catalog.get("GroupNormalization"), {
        "axis": axis, "epsilon": st.floats(-1e-3, 1.0)}, skip=("groups",)),
    st.sampled_from((-1, 1, 2, 2, 3, 4, 32)) | st.integers(-3, 13),
).map(lambda t: {**t[0], "groups": t[1]}), any_shape())
@example({"groups": 2}, (None, 4))
@example({"groups": 3}, (None, 8))
@example({"groups": 16}, (None, 8))
@example({"groups": 0}, (None, 8))
@example({"groups": -1, "axis": 1}, (None, 4, None))
@example({"groups": 2, "axis": 3}, (None, 4, 6))
@example({"groups": 2}, (None, None))
def test_group_normalization(params, shape):
    check_layer("GroupNormalization", params, [shape])


@given(params_strategy(catalog.get("RMSNormalization"), {
    "axis": axes, "epsilon": st.floats(-1e-3, 1.0)}), any_shape())
@example({"axis": [1, 2]}, (None, 4, 3))
@example({"axis": 1}, (None, None, 3))
def test_rms_normalization(params, shape):
    check_layer("RMSNormalization", params, [shape])


@given(st.fixed_dictionaries({}, optional={"axis": axes}), any_shape())
@example({"axis": 3}, (None, 4))
@example({"axis": [1, -1]}, (None, None, 4))
def test_unit_normalization(params, shape):
    check_layer("UnitNormalization", params, [shape])


def test_batch_normalization_counts():
    """The weights a learner sees in model.summary(): 2 trainable + 2 non-trainable vectors."""
    spec = catalog.get("BatchNormalization")
    out = spec.infer(spec.defaults(), [(None, 28, 28, 32)])
    assert (out.trainable, out.non_trainable) == (64, 64)
    out = spec.infer(spec.resolve({"renorm": True, "center": False}), [(None, 10)])
    assert (out.trainable, out.non_trainable) == (10, 50)
