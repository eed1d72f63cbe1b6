"""Generate the example projects in resources/examples/ from the course notes' networks.

Each example is built with the Graph API, laid out with ``layered_layout`` and saved with
``project.save``. Run it after changing an example (or the catalog's defaults, the layout or the
project format); a test checks that the committed files are what this script writes::

    python tools/make_examples.py              # writes resources/examples/*.nbproj
    python tools/make_examples.py OUT_DIR      # writes them somewhere else

It needs neither Qt nor Keras. It refuses to write an example whose graph has errors, or whose
parameter total differs from the total printed in the course notes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from netbuilder.core.graph import Graph  # noqa: E402
from netbuilder.core.layout import layered_layout  # noqa: E402
from netbuilder.core.project import Project, save  # noqa: E402

DEFAULT_OUT = ROOT / "resources" / "examples"


class Net:
    """A functional-API-like helper over ``Graph``: ``x = net("Dense", x, units=64)``."""

    def __init__(self) -> None:
        self.graph = Graph()

    def input(self, shape: Sequence[int], name: str | None = None) -> str:
        return self.graph.add_node("Input", {"shape": list(shape)}, name=name).id

    def __call__(self, layer_type: str, inputs: str | Sequence[str], *, name: str | None = None,
                 **params: Any) -> str:
        node = self.graph.add_node(layer_type, params, name=name)
        for src in [inputs] if isinstance(inputs, str) else inputs:
            self.graph.connect(src, node.id)
        return node.id


@dataclass
class Example:
    file: str
    description: str
    build: Callable[[], Graph]
    expected_total: int | None = None  # the total printed in the course notes


EXAMPLES: list[Example] = []


def example(file: str, description: str, expected_total: int | None = None
            ) -> Callable[[Callable[[], Graph]], Callable[[], Graph]]:
    def register(build: Callable[[], Graph]) -> Callable[[], Graph]:
        EXAMPLES.append(Example(file, description, build, expected_total))
        return build
    return register


# --- the networks ------------------------------------------------------------------------------


@example("mlp", "A multilayer perceptron for flattened 28x28 MNIST digits: 784 inputs, two "
         "hidden Dense layers of 64 ReLU units and a 10-way softmax.", 55_050)
def mlp() -> Graph:
    net = Net()
    x = net.input([784])
    x = net("Dense", x, units=64, activation="relu")
    x = net("Dense", x, units=64, activation="relu")
    net("Dense", x, units=10, activation="softmax")
    return net.graph


@example("mnist_cnn", "The course's first convnet for MNIST: three 3x3 convolutions (32, 64, 64 "
         "filters) with max pooling between them, then Flatten, Dense 64 and a 10-way softmax.",
         93_322)
def mnist_cnn() -> Graph:
    net = Net()
    x = net.input([28, 28, 1])
    x = net("Conv2D", x, filters=32, kernel_size=3, activation="relu")
    x = net("MaxPooling2D", x, pool_size=2)
    x = net("Conv2D", x, filters=64, kernel_size=3, activation="relu")
    x = net("MaxPooling2D", x, pool_size=2)
    x = net("Conv2D", x, filters=64, kernel_size=3, activation="relu")
    x = net("Flatten", x)
    x = net("Dense", x, units=64, activation="relu")
    net("Dense", x, units=10, activation="softmax")
    return net.graph


def _cats_vs_dogs_convnet(net: Net, x: str, dropout: bool) -> None:
    for filters in (32, 64, 128, 128):
        x = net("Conv2D", x, filters=filters, kernel_size=3, activation="relu")
        x = net("MaxPooling2D", x, pool_size=2)
    x = net("Flatten", x)
    if dropout:
        x = net("Dropout", x, rate=0.5)
    x = net("Dense", x, units=512, activation="relu")
    net("Dense", x, units=1, activation="sigmoid")


@example("cats_vs_dogs_cnn", "The cats-vs-dogs convnet on 150x150 RGB images: four Conv2D + "
         "MaxPooling2D stages (32, 64, 128, 128 filters), Dense 512 and one sigmoid output for "
         "the binary label.", 3_453_121)
def cats_vs_dogs_cnn() -> Graph:
    net = Net()
    _cats_vs_dogs_convnet(net, net.input([150, 150, 3]), dropout=False)
    return net.graph


@example("cats_vs_dogs_dropout", "The cats-vs-dogs convnet against overfitting: random flips, "
         "rotations (up to 45 degrees), zooms and shifts of 20% augment the images during "
         "training, and Dropout(0.5) precedes the Dense 512 layer.", 3_453_121)
def cats_vs_dogs_dropout() -> Graph:
    net = Net()
    x = net.input([150, 150, 3])
    # the notes' ImageDataGenerator(rotation_range=45, width/height_shift_range=0.2,
    # zoom_range=0.2, horizontal_flip=True), as layers inside the model (active in training only)
    x = net("RandomFlip", x, mode="horizontal")
    x = net("RandomRotation", x, factor=45 / 360)
    x = net("RandomZoom", x, height_factor=0.2)
    x = net("RandomTranslation", x, height_factor=0.2, width_factor=0.2)
    _cats_vs_dogs_convnet(net, x, dropout=True)
    return net.graph


@example("residual_mlp", "A multilayer perceptron with a residual (skip) connection: the output "
         "of the first Dense layer is added to the output of the next two, before ReLU and the "
         "10-way softmax.")
def residual_mlp() -> Graph:
    net = Net()
    x = net.input([784])
    x = net("Dense", x, units=64, activation="relu")
    shortcut = x
    x = net("Dense", x, units=32, activation="relu")
    x = net("Dense", x, units=64)  # no activation before the addition
    x = net("Add", [shortcut, x])
    x = net("ReLU", x)
    net("Dense", x, units=10, activation="softmax")
    return net.graph


def _inception_cell(net: Net, x: str, prefix: str) -> str:
    """GoogLeNet's inception module (the filters of its first one, 3a): four parallel branches,
    1x1 bottlenecks before the 3x3 and 5x5 convolutions and after the pooling, all 'same' padded
    and concatenated along the channels."""
    def conv(src: str, filters: int, size: int, name: str) -> str:
        return net("Conv2D", src, filters=filters, kernel_size=size, padding="same",
                   activation="relu", name=f"{prefix}_{name}")

    b1 = conv(x, 64, 1, "1x1")
    b2 = conv(conv(x, 96, 1, "3x3_reduce"), 128, 3, "3x3")
    b3 = conv(conv(x, 16, 1, "5x5_reduce"), 32, 5, "5x5")
    pool = net("MaxPooling2D", x, pool_size=3, strides=1, padding="same", name=f"{prefix}_pool")
    b4 = conv(pool, 32, 1, "pool_proj")
    return net("Concatenate", [b1, b2, b3, b4], name=f"{prefix}_concat")


@example("inception_cell", "Four inception cells on 28x28 MNIST digits, each followed by "
         "BatchNormalization: parallel 1x1, 3x3 and 5x5 convolutions (with 1x1 bottlenecks) and a "
         "pooling branch, concatenated; global average pooling feeds the 10-way softmax.")
def inception_cell() -> Graph:
    net = Net()
    x = net.input([28, 28, 1])
    for i in range(1, 5):
        x = _inception_cell(net, x, f"inception{i}")
        x = net("BatchNormalization", x)
    # the notes put Dense straight on the 4D cell output (one prediction per pixel); pool first
    x = net("GlobalAveragePooling2D", x)
    net("Dense", x, units=10, activation="softmax")
    return net.graph


@example("fashion_mnist_cnn", "The Fashion-MNIST convnet: 64 7x7 filters, then two blocks of two "
         "3x3 convolutions (128, then 256 filters) with max pooling, and a Dense 128-64-10 "
         "classifier with Dropout(0.5).")
def fashion_mnist_cnn() -> Graph:
    net = Net()
    x = net.input([28, 28, 1])
    x = net("Conv2D", x, filters=64, kernel_size=7, activation="relu", padding="same")
    x = net("MaxPooling2D", x, pool_size=2)
    for filters in (128, 256):
        x = net("Conv2D", x, filters=filters, kernel_size=3, activation="relu", padding="same")
        x = net("Conv2D", x, filters=filters, kernel_size=3, activation="relu", padding="same")
        x = net("MaxPooling2D", x, pool_size=2)
    x = net("Flatten", x)
    x = net("Dense", x, units=128, activation="relu")
    x = net("Dropout", x, rate=0.5)
    x = net("Dense", x, units=64, activation="relu")
    x = net("Dropout", x, rate=0.5)
    net("Dense", x, units=10, activation="softmax")
    return net.graph


@example("lenet5", "LeNet-5 for MNIST digits zero-padded to 32x32: 5x5 convolutions with 6 and "
         "16 filters, each followed by 2x2 average pooling, then Dense 120 and 84 (all tanh) and "
         "a 10-way softmax.")
def lenet5() -> Graph:
    net = Net()
    x = net.input([32, 32, 1])
    x = net("Conv2D", x, filters=6, kernel_size=5, activation="tanh")
    x = net("AveragePooling2D", x, pool_size=2)
    x = net("Conv2D", x, filters=16, kernel_size=5, activation="tanh")
    x = net("AveragePooling2D", x, pool_size=2)
    x = net("Flatten", x)
    x = net("Dense", x, units=120, activation="tanh")
    x = net("Dense", x, units=84, activation="tanh")
    net("Dense", x, units=10, activation="softmax")
    return net.graph


def _residual_unit(net: Net, x: str, filters: int, strides: int, prefix: str) -> str:
    """The notes' ResidualUnit: Conv-BN-ReLU-Conv-BN, plus the input (through a 1x1 convolution
    and BN when the unit downsamples), then ReLU."""
    z = net("Conv2D", x, filters=filters, kernel_size=3, strides=strides, padding="same",
            use_bias=False, name=f"{prefix}_conv1")
    z = net("BatchNormalization", z, name=f"{prefix}_bn1")
    z = net("Activation", z, activation="relu", name=f"{prefix}_relu1")
    z = net("Conv2D", z, filters=filters, kernel_size=3, padding="same", use_bias=False,
            name=f"{prefix}_conv2")
    z = net("BatchNormalization", z, name=f"{prefix}_bn2")
    skip = x
    if strides > 1:
        skip = net("Conv2D", skip, filters=filters, kernel_size=1, strides=strides,
                   padding="same", use_bias=False, name=f"{prefix}_skip_conv")
        skip = net("BatchNormalization", skip, name=f"{prefix}_skip_bn")
    z = net("Add", [z, skip], name=f"{prefix}_add")
    return net("Activation", z, activation="relu", name=f"{prefix}_out")


@example("resnet34", "ResNet-34 for 224x224 RGB images and 10 classes, built from 16 residual "
         "units (3, 4, 6 and 3 units of 64, 128, 256 and 512 filters); a 1x1 convolution "
         "projects the skip connection where a unit halves the image.")
def resnet34() -> Graph:
    net = Net()
    x = net.input([224, 224, 3])
    x = net("Conv2D", x, filters=64, kernel_size=7, strides=2, padding="same", use_bias=False,
            name="stem_conv")
    x = net("BatchNormalization", x, name="stem_bn")
    x = net("Activation", x, activation="relu", name="stem_relu")
    x = net("MaxPooling2D", x, pool_size=3, strides=2, padding="same", name="stem_pool")
    prev_filters = 64
    for i, filters in enumerate([64] * 3 + [128] * 4 + [256] * 6 + [512] * 3, start=1):
        strides = 1 if filters == prev_filters else 2
        x = _residual_unit(net, x, filters, strides, f"unit{i}")
        prev_filters = filters
    x = net("GlobalAveragePooling2D", x, name="avg_pool")
    x = net("Flatten", x)
    net("Dense", x, units=10, activation="softmax", name="predictions")
    return net.graph


@example("se_block", "A small convnet for 32x32 RGB images with a squeeze-and-excitation block: "
         "global average pooling, a Dense bottleneck (16 times fewer units) and a sigmoid Dense "
         "layer rescale each of the 64 feature maps.")
def se_block() -> Graph:
    net = Net()
    x = net.input([32, 32, 3])
    x = net("Conv2D", x, filters=32, kernel_size=3, padding="same", activation="relu")
    x = net("MaxPooling2D", x, pool_size=2)
    x = net("Conv2D", x, filters=64, kernel_size=3, padding="same", activation="relu")
    s = net("GlobalAveragePooling2D", x, name="se_squeeze")
    s = net("Dense", s, units=64 // 16, activation="relu", name="se_reduce")
    s = net("Dense", s, units=64, activation="sigmoid", name="se_excite")
    s = net("Reshape", s, target_shape=[1, 1, 64], name="se_reshape")
    x = net("Multiply", [x, s], name="se_scale")
    x = net("MaxPooling2D", x, pool_size=2)
    x = net("Flatten", x)
    x = net("Dense", x, units=64, activation="relu")
    net("Dense", x, units=10, activation="softmax")
    return net.graph


@example("fcn_segmentation", "A fully convolutional network for semantic segmentation: three "
         "conv + pooling stages shrink 128x128 RGB images to 16x16, three stride-2 Conv2DTranspose "
         "layers upsample back, with skip connections from the encoder, to a 3-class softmax per "
         "pixel.")
def fcn_segmentation() -> Graph:
    net = Net()
    x = net.input([128, 128, 3])
    skips = []
    for i, filters in enumerate((32, 64, 128), start=1):
        x = net("Conv2D", x, filters=filters, kernel_size=3, padding="same", activation="relu",
                name=f"enc{i}_conv")
        skips.append(x)
        x = net("MaxPooling2D", x, pool_size=2, name=f"enc{i}_pool")
    x = net("Conv2D", x, filters=256, kernel_size=3, padding="same", activation="relu",
            name="bottleneck_conv")
    for i, filters in zip((3, 2, 1), (128, 64, 32)):
        x = net("Conv2DTranspose", x, filters=filters, kernel_size=3, strides=2, padding="same",
                activation="relu", name=f"dec{i}_upconv")
        x = net("Add", [x, skips[i - 1]], name=f"dec{i}_skip_add")
    net("Conv2D", x, filters=3, kernel_size=1, activation="softmax", name="segmentation")
    return net.graph


@example("two_headed", "A two-headed model for classification and localization: a small convnet "
         "base feeds a class head (10-way softmax) and a box head (4 bounding-box coordinates, "
         "trained with MSE).")
def two_headed() -> Graph:
    net = Net()
    x = net.input([128, 128, 3])
    for filters in (32, 64, 128):
        x = net("Conv2D", x, filters=filters, kernel_size=3, activation="relu")
        x = net("MaxPooling2D", x, pool_size=2)
    avg = net("GlobalAveragePooling2D", x, name="avg")
    net("Dense", avg, units=10, activation="softmax", name="class_output")
    net("Dense", avg, units=4, name="box_output")
    return net.graph


# --- writing -----------------------------------------------------------------------------------


def make(example: Example) -> Project:
    """Build, check and lay out one example."""
    graph = example.build()
    problems = graph.inference.errors()
    if problems:
        raise SystemExit(f"{example.file}: the graph has errors: " + "; ".join(problems))
    total = graph.inference.totals().params
    if example.expected_total is not None and total != example.expected_total:
        raise SystemExit(f"{example.file}: {total:,} parameters, the notes say "
                         f"{example.expected_total:,}")
    with graph.batch():
        for node_id, position in layered_layout(graph).items():
            graph.move(node_id, position)
    return Project(graph, name=example.file, description=example.description)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) > 1 or any(a.startswith("-") for a in argv):
        print("usage: python tools/make_examples.py [OUT_DIR]", file=sys.stderr)
        return 2
    out = Path(argv[0]) if argv else DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    for ex in EXAMPLES:
        project = make(ex)
        path = out / f"{ex.file}.nbproj"
        save(project, path)
        print(f"{path}: {len(project.graph.nodes)} layers, "
              f"{project.graph.inference.totals().params:,} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
