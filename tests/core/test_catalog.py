"""The catalog as a whole: complete, documented, consistent (no Keras needed)."""

import json

import pytest

from netbuilder.core import catalog
from netbuilder.core.catalog.base import Param, ParamError

# The layers the foundation issue asks for, at least.
REQUIRED = """
Input Dense Activation Dropout Flatten Reshape Permute RepeatVector Embedding
Conv1D Conv2D Conv3D Conv1DTranspose Conv2DTranspose Conv3DTranspose SeparableConv1D
SeparableConv2D DepthwiseConv1D DepthwiseConv2D
MaxPooling1D MaxPooling2D MaxPooling3D AveragePooling1D AveragePooling2D AveragePooling3D
GlobalMaxPooling1D GlobalMaxPooling2D GlobalMaxPooling3D GlobalAveragePooling1D
GlobalAveragePooling2D GlobalAveragePooling3D
BatchNormalization LayerNormalization GroupNormalization
SpatialDropout1D SpatialDropout2D SpatialDropout3D GaussianNoise GaussianDropout
ZeroPadding1D ZeroPadding2D ZeroPadding3D Cropping1D Cropping2D Cropping3D
UpSampling1D UpSampling2D UpSampling3D
Add Subtract Multiply Average Maximum Minimum Concatenate Dot
ReLU LeakyReLU PReLU ELU Softmax
SimpleRNN LSTM GRU Bidirectional MultiHeadAttention
Rescaling Normalization Resizing CenterCrop
RandomFlip RandomRotation RandomZoom RandomTranslation RandomContrast RandomCrop RandomBrightness
""".split()

SPECS = catalog.all_specs()


def test_every_required_layer_is_in_the_catalog():
    missing = [t for t in REQUIRED if not catalog.has(t)]
    assert not missing


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.type)
def test_spec_is_documented_and_consistent(spec):
    assert spec.help and (spec.help[0].isupper() or spec.help[0].isdigit())
    assert spec.help.endswith(".")
    assert spec.family in catalog.FAMILY_ORDER
    assert spec.keywords, "palette search by purpose needs keywords"
    for p in spec.params:
        assert p.help, f"{spec.type}.{p.name} has no help"
    for name in spec.key_params:
        assert spec.has_param(name)
    resolved = spec.resolve({})
    json.dumps(spec.kwargs(resolved))  # constructor arguments are plain JSON
    assert set(spec.non_default(resolved)) == {p.name for p in spec.params if p.required}
    assert spec.resolve(spec.non_default(resolved)) == resolved


def test_param_normalization_and_messages():
    p = Param("kernel_size", "ints", 3, "k", length=2, minimum=1)
    assert p.normalize(3) == (3, 3)
    assert p.normalize([1, 2]) == (1, 2)
    with pytest.raises(ParamError, match=r"`kernel_size`: \[1, 2, 3\] is 3 numbers; "
                                         r"expected an integer or 2 integers >= 1, e.g. 3"):
        p.normalize([1, 2, 3])
    with pytest.raises(ParamError, match="`kernel_size`: 0 is not an integer >= 1"):
        p.normalize(0)
    f = Param("rate", "float", 0.5, "r", minimum=0, maximum=1)
    with pytest.raises(ParamError, match="a number >= 0 and <= 1"):
        f.normalize(1.5)
    with pytest.raises(ParamError):
        f.normalize(float("nan"))
    assert Param("b", "bool", True, "b").normalize(False) is False
    with pytest.raises(ParamError):
        Param("b", "bool", True, "b").normalize(1)
    init = Param("i", "initializer", "zeros", "i")
    assert init.normalize({"class_name": "VarianceScaling", "config": {"scale": 2.0}}) == {
        "class_name": "VarianceScaling", "config": {"scale": 2.0}}
    with pytest.raises(ParamError):
        init.normalize("nonsense")


def test_families_are_in_palette_order():
    fams = catalog.families()
    order = [f for f in catalog.FAMILY_ORDER if f in fams]
    assert fams == order
