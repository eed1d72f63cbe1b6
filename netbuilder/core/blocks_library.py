"""Ready-made blocks and the user's own block library.

Built-in blocks (``BUILTIN``: name -> a function returning a fresh ``Block``), each a function
block with the parameters a user changes per instance exposed:

- ``residual_unit`` (the course's ResidualUnit): Conv-BN-ReLU-Conv-BN plus the skip connection,
  then ReLU. ``filters`` and ``strides`` are exposed; the skip connection's 1x1 Conv2D and its
  BatchNormalization are *optional layers*, present only when ``strides`` is not 1, so one
  definition serves every unit of a ResNet (the units that halve the image project their input,
  the others add it as it is). A unit that changes ``filters`` without striding needs its input
  to have ``filters`` channels already (inference says so if not).
- ``inception_cell``: 1x1, 3x3 and 5x5 convolutions (with 1x1 bottlenecks) and a pooling branch
  with its 1x1 projection, concatenated; every branch's filters exposed.
- ``se_block``: squeeze-and-excitation: global average pooling, a Dense bottleneck, a sigmoid
  Dense (``channels`` units: the input's channels) reshaped to 1x1 and multiplied in.
- ``conv_bn_relu``: Conv2D (no bias) - BatchNormalization - ReLU.
- ``separable_conv``: depthwise-separable convolution, MobileNet's: DepthwiseConv2D-BN-ReLU, then
  a 1x1 Conv2D-BN-ReLU.
- ``dense_dropout``: Dense then Dropout.

The user library is a folder of block files (``$NETBUILDER_HOME/blocks``, else
``~/.netbuilder/blocks``), one per block, ``<name>.json``, each a NetBuilder project document
holding only that block (and the blocks it uses). Files are written atomically; a damaged file is
reported by ``load_library`` and skipped, never fatal.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netbuilder.core.atomic_write import write_text_atomically
from netbuilder.core.blocks import Block
from netbuilder.core.graph import Graph, GraphError
from netbuilder.core.layout import layered_layout
from netbuilder.core.project import Project, ProjectError, dumps, loads

# --- built-in blocks ---------------------------------------------------------------------------


class _Net:
    """``x = net("Conv2D", x, "conv1", filters=64)``: a block's graph, layer by layer."""

    def __init__(self, shape: list[int]) -> None:
        self.graph = Graph()
        self.input = self.graph.add_node("Input", {"shape": shape}, name="inputs").id

    def __call__(self, layer_type: str, inputs: str | list[str], name: str,
                 **params: Any) -> str:
        node = self.graph.add_node(layer_type, params, name=name)
        for src in [inputs] if isinstance(inputs, str) else inputs:
            self.graph.connect(src, node.id)
        return node.id

    def block(self, name: str, output: str, exposed: dict[str, list[str]],
              optional: dict[str, tuple[str, Any]] | None = None) -> Block:
        """The block, its layers laid out; ``exposed`` maps a name to "layer.param" targets."""
        g = self.graph
        with g.batch():
            for node_id, position in layered_layout(g).items():
                g.move(node_id, position)
        by_name = {n.name: n.id for n in g.nodes.values()}

        def target(text: str) -> tuple[str, str]:
            layer, param = text.rsplit(".", 1)
            return by_name[layer], param

        return Block(name, g, [self.input], [(output, 0)], "function",
                     exposed={k: [target(t) for t in v] for k, v in exposed.items()},
                     optional={by_name[k]: v for k, v in (optional or {}).items()})


def residual_unit() -> Block:
    net = _Net([56, 56, 64])
    x = net.input
    z = net("Conv2D", x, "conv1", filters=64, kernel_size=3, strides=1, padding="same",
            use_bias=False)
    z = net("BatchNormalization", z, "bn1")
    z = net("Activation", z, "relu1", activation="relu")
    z = net("Conv2D", z, "conv2", filters=64, kernel_size=3, padding="same", use_bias=False)
    z = net("BatchNormalization", z, "bn2")
    skip = net("Conv2D", x, "skip_conv", filters=64, kernel_size=1, strides=1, padding="same",
               use_bias=False)
    skip = net("BatchNormalization", skip, "skip_bn")
    z = net("Add", [z, skip], "add")
    out = net("Activation", z, "out", activation="relu")
    return net.block("residual_unit", out,
                     {"filters": ["conv1.filters", "conv2.filters", "skip_conv.filters"],
                      "strides": ["conv1.strides", "skip_conv.strides"]},
                     {"skip_conv": ("strides", 1), "skip_bn": ("strides", 1)})


def inception_cell() -> Block:
    net = _Net([28, 28, 192])
    x = net.input

    def conv(src: str, filters: int, size: int, name: str) -> str:
        return net("Conv2D", src, name, filters=filters, kernel_size=size, padding="same",
                   activation="relu")

    b1 = conv(x, 64, 1, "1x1")
    b2 = conv(conv(x, 96, 1, "3x3_reduce"), 128, 3, "3x3")
    b3 = conv(conv(x, 16, 1, "5x5_reduce"), 32, 5, "5x5")
    pool = net("MaxPooling2D", x, "pool", pool_size=3, strides=1, padding="same")
    b4 = conv(pool, 32, 1, "pool_proj")
    out = net("Concatenate", [b1, b2, b3, b4], "concat")
    return net.block("inception_cell", out, {
        "filters_1x1": ["1x1.filters"], "filters_3x3_reduce": ["3x3_reduce.filters"],
        "filters_3x3": ["3x3.filters"], "filters_5x5_reduce": ["5x5_reduce.filters"],
        "filters_5x5": ["5x5.filters"], "filters_pool_proj": ["pool_proj.filters"]})


def se_block() -> Block:
    net = _Net([32, 32, 64])
    x = net.input
    s = net("GlobalAveragePooling2D", x, "squeeze")
    s = net("Dense", s, "reduce", units=4, activation="relu")
    s = net("Dense", s, "excite", units=64, activation="sigmoid")
    s = net("Reshape", s, "reshape", target_shape=[1, 1, -1])
    out = net("Multiply", [x, s], "scale")
    return net.block("se_block", out, {"channels": ["excite.units"],
                                       "squeeze_units": ["reduce.units"]})


def conv_bn_relu() -> Block:
    net = _Net([32, 32, 3])
    z = net("Conv2D", net.input, "conv", filters=32, kernel_size=3, padding="same",
            use_bias=False)
    z = net("BatchNormalization", z, "bn")
    out = net("Activation", z, "relu", activation="relu")
    return net.block("conv_bn_relu", out, {"filters": ["conv.filters"],
                                           "kernel_size": ["conv.kernel_size"],
                                           "strides": ["conv.strides"]})


def separable_conv() -> Block:
    net = _Net([32, 32, 32])
    z = net("DepthwiseConv2D", net.input, "depthwise", kernel_size=3, padding="same",
            use_bias=False)
    z = net("BatchNormalization", z, "depthwise_bn")
    z = net("Activation", z, "depthwise_relu", activation="relu")
    z = net("Conv2D", z, "pointwise", filters=64, kernel_size=1, use_bias=False)
    z = net("BatchNormalization", z, "pointwise_bn")
    out = net("Activation", z, "pointwise_relu", activation="relu")
    return net.block("separable_conv", out, {"filters": ["pointwise.filters"],
                                             "strides": ["depthwise.strides"]})


def dense_dropout() -> Block:
    net = _Net([256])
    z = net("Dense", net.input, "dense", units=128, activation="relu")
    out = net("Dropout", z, "dropout", rate=0.5)
    return net.block("dense_dropout", out, {"units": ["dense.units"], "rate": ["dropout.rate"],
                                            "activation": ["dense.activation"]})


BUILTIN: dict[str, Callable[[], Block]] = {
    "residual_unit": residual_unit,
    "inception_cell": inception_cell,
    "se_block": se_block,
    "conv_bn_relu": conv_bn_relu,
    "separable_conv": separable_conv,
    "dense_dropout": dense_dropout,
}

DESCRIPTIONS = {
    "residual_unit": "ResNet unit: Conv-BN-ReLU-Conv-BN + skip (1×1 projection when strides > 1)",
    "inception_cell": "1×1, 3×3, 5×5 convolutions and pooling, concatenated",
    "se_block": "Squeeze-and-excitation: rescales each channel",
    "conv_bn_relu": "Conv2D, BatchNormalization, ReLU",
    "separable_conv": "Depthwise-separable convolution (MobileNet)",
    "dense_dropout": "Dense, then Dropout",
}


def builtin(name: str) -> Block:
    """A fresh copy of built-in block ``name``."""
    try:
        return BUILTIN[name]()
    except KeyError:
        raise GraphError(f"no built-in block named {name!r} (there are: "
                         f"{', '.join(BUILTIN)})") from None


def add_to_graph(graph: Graph, block: Block) -> Block:
    """Put ``block`` (and the blocks it uses) into ``graph``'s definitions, unless a block of
    that name is there already (the project's own definition wins); returns the one in use."""
    for inner_name, inner in block.graph.blocks.items():
        if inner_name not in graph.blocks:
            graph.add_block(inner)
    if block.name not in graph.blocks:
        graph.add_block(block)
    return graph.blocks[block.name]


# --- the user's library ------------------------------------------------------------------------


def library_dir() -> Path:
    """Where the user's blocks live: ``$NETBUILDER_HOME/blocks`` or ``~/.netbuilder/blocks``."""
    home = os.environ.get("NETBUILDER_HOME")
    base = Path(home) if home else Path.home() / ".netbuilder"
    return base / "blocks"


@dataclass
class Library:
    """The blocks read from the library folder, and the files that could not be read."""

    blocks: dict[str, Block] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def block_to_text(block: Block) -> str:
    """A block as a document of its own (a project holding only the block)."""
    graph = Graph()
    graph.blocks.update(block.graph.blocks)
    graph.blocks[block.name] = block
    return dumps(Project(graph, name=block.name, description=f"NetBuilder block {block.name}"))


def block_from_text(text: str, source: str) -> Block:
    """The block of a document written by ``block_to_text``; ``ProjectError`` when damaged."""
    project = loads(text, source)
    wanted = project.name
    block = project.graph.blocks.get(wanted)
    if block is None:
        raise ProjectError(f"{source}: holds no block named {wanted!r}")
    return block


def save_to_library(block: Block, folder: str | os.PathLike[str] | None = None) -> Path:
    """Write ``block`` to the library (replacing a block of that name); returns the file.
    ``OSError`` is turned into ``GraphError`` naming the file."""
    if block.is_model:
        raise GraphError(f"block {block.name}: only function blocks go into the library")
    path = Path(folder) if folder is not None else library_dir()
    target = path / f"{block.name}.json"
    try:
        path.mkdir(parents=True, exist_ok=True)
        write_text_atomically(target, block_to_text(block))
    except OSError as err:
        raise GraphError(f"cannot save block {block.name} to {target}: "
                         f"{err.strerror or err}") from None
    return target


def load_library(folder: str | os.PathLike[str] | None = None) -> Library:
    """Every block in the library folder (sorted by name); unreadable files are listed in
    ``problems``, each naming the file and what is wrong."""
    path = Path(folder) if folder is not None else library_dir()
    library = Library()
    if not path.is_dir():
        return library
    for file in sorted(path.glob("*.json")):
        try:
            text = file.read_text(encoding="utf-8")
            block = block_from_text(text, str(file))
        except ProjectError as err:
            library.problems.append(str(err))
            continue
        except (OSError, UnicodeDecodeError) as err:
            library.problems.append(f"{file}: cannot read it: {err}")
            continue
        if block.name in library.blocks:
            library.problems.append(f"{file}: a block named {block.name!r} was read already")
            continue
        library.blocks[block.name] = block
    return library


def remove_from_library(name: str, folder: str | os.PathLike[str] | None = None) -> None:
    path = (Path(folder) if folder is not None else library_dir()) / f"{name}.json"
    try:
        path.unlink()
    except FileNotFoundError:
        raise GraphError(f"no block named {name!r} in the library") from None
    except OSError as err:
        raise GraphError(f"cannot remove {path}: {err.strerror or err}") from None
