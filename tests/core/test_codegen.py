"""The exported Keras code, read as text (no Keras here): it reads the way a person writes Keras,
holds only the arguments that differ from Keras' defaults, keeps every layer name, turns blocks
into functions, compiles, fits in 99 columns as black would wrap it, and never changes for the
same project. ``tests/runtime/test_export.py`` runs it against Keras."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import chain
from hypothesis import given, settings
from random_graphs import graphs

from netbuilder.core.blocks import Block
from netbuilder.core.codegen import CodegenError, generate_code, model_name
from netbuilder.core.graph import Graph
from netbuilder.core.project import Project, dumps, load, loads

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "resources" / "examples").glob("*.nbproj"))


def code_of(graph: Graph, name: str = "test") -> str:
    return generate_code(Project(graph, name))


def build_model_body(code: str) -> str:
    start = code.index("def build_model():\n")
    return code[start:code.index('\n\n\nif __name__ == "__main__":')]


def statement_of(code: str, needle: str) -> str:
    """The one statement of ``code`` that contains ``needle``, on one line however wrapped."""
    found = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, (ast.Assign, ast.Return)):
            segment = ast.get_source_segment(code, node)
            if needle in segment:
                found.append(" ".join(segment.split()).replace("( ", "(").replace(" )", ")"))
    assert len(found) == 1, (needle, found)
    return found[0]


def check_style(code: str) -> None:
    ast.parse(code)
    compile(code, "exported.py", "exec")
    too_long = [line for line in code.splitlines() if len(line) > 99]
    assert not too_long, too_long
    assert code.startswith('"""') and code.endswith(
        'if __name__ == "__main__":\n    build_model().summary()\n')
    assert "import keras\nfrom keras import layers\n" in code


# --- what the code reads like ----------------------------------------------------------------


def test_mnist_cnn_reads_like_the_course_notes():
    code = generate_code(load(ROOT / "resources" / "examples" / "mnist_cnn.nbproj"))
    assert build_model_body(code) == textwrap.dedent('''\
        def build_model():
            inputs = keras.Input(shape=(28, 28, 1), name="input_layer")
            x = layers.Conv2D(32, 3, activation="relu", name="conv2d")(inputs)
            x = layers.MaxPooling2D(name="max_pooling2d")(x)
            x = layers.Conv2D(64, 3, activation="relu", name="conv2d_1")(x)
            x = layers.MaxPooling2D(name="max_pooling2d_1")(x)
            x = layers.Conv2D(64, 3, activation="relu", name="conv2d_2")(x)
            x = layers.Flatten(name="flatten")(x)
            x = layers.Dense(64, activation="relu", name="dense")(x)
            outputs = layers.Dense(10, activation="softmax", name="dense_1")(x)
            return keras.Model(inputs=inputs, outputs=outputs, name="mnist_cnn")''')
    assert code.startswith('"""The "mnist_cnn" model, exported from NetBuilder.\n\nThe course\'s')
    check_style(code)


def test_only_arguments_that_differ_from_the_defaults():
    graph, _ = chain(("Input", {"shape": [32, 32, 3]}),
                     ("Conv2D", {"filters": 16, "kernel_size": [3, 5], "strides": 2,
                                 "padding": "valid", "use_bias": True}),
                     ("Dense", {"units": 8, "activation": "linear"}),
                     ("Dropout", {"rate": 0.25}))
    body = build_model_body(code_of(graph))
    assert 'layers.Conv2D(16, (3, 5), strides=2, name="conv2d")' in body
    assert 'layers.Dense(8, name="dense")' in body
    assert 'layers.Dropout(0.25, name="dropout")' in body
    for default in ("padding", "use_bias", "activation", "kernel_initializer", "data_format"):
        assert default not in body


def test_required_arguments_positional_where_keras_users_write_them_so():
    graph, _ = chain(("Input", {"shape": [784]}), ("Reshape", {"target_shape": [28, 28, 1]}),
                     ("Rescaling", {"scale": 1 / 255}), ("RandomFlip", {"mode": "horizontal"}),
                     ("RandomRotation", {"factor": 0.1}), ("MaxPooling2D", {"pool_size": 3}),
                     ("UpSampling2D", {"size": [2, 2]}), ("Activation", {"activation": "relu"}))
    body = build_model_body(code_of(graph))
    for text in ('layers.Reshape((28, 28, 1), name="reshape")',
                 'layers.Rescaling(1 / 255, name="rescaling")',
                 'layers.RandomFlip("horizontal", name="random_flip")',
                 'layers.RandomRotation(0.1, name="random_rotation")',
                 'layers.MaxPooling2D(3, name="max_pooling2d")',
                 'layers.UpSampling2D(name="up_sampling2d")',  # size (2, 2) is the default
                 'layers.Activation("relu", name="activation")'):
        assert text in body, text


def test_keyword_arguments_where_keras_users_write_them_so():
    g = Graph()
    x = g.add_node("Input", {"shape": [10, 16]})
    mha = g.add_node("MultiHeadAttention", {"num_heads": 2, "key_dim": 8})
    g.connect(x.id, mha.id)
    g.connect(x.id, mha.id)
    code = code_of(g)
    assert statement_of(code, "MultiHeadAttention") == (
        'outputs = layers.MultiHeadAttention(num_heads=2, key_dim=8, '
        'name="multi_head_attention")(query=inputs, value=inputs)')
    check_style(code)


def test_initializers_regularizers_and_constraints():
    graph, _ = chain(
        ("Input", {"shape": [4]}),
        ("Dense", {"units": 3, "kernel_initializer": "he_normal",
                   "kernel_regularizer": {"class_name": "L2", "config": {"l2": 0.001}},
                   "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros",
                                        "config": {}, "registered_name": None}}),
        ("Dense", {"units": 3, "kernel_initializer": {
            "class_name": "HeNormal", "config": {"seed": 7, "input_axes": None}},
                   "kernel_constraint": {"class_name": "MaxNorm",
                                         "config": {"max_value": 2, "axis": 0}},
                   "bias_regularizer": "l1"}))
    code = code_of(graph)
    first = statement_of(code, 'name="dense"')
    assert 'kernel_initializer="he_normal"' in first
    assert "kernel_regularizer=keras.regularizers.L2(l2=0.001)" in first
    assert "bias_initializer" not in first  # Zeros() is the default
    second = statement_of(code, 'name="dense_1"')
    assert "kernel_initializer=keras.initializers.HeNormal(seed=7)" in second
    assert 'kernel_constraint="max_norm"' in second  # MaxNorm() with its defaults
    assert 'bias_regularizer="l1"' in second
    check_style(code)


def test_trainable_false_is_written_and_names_are_kept():
    graph, nodes = chain(("Input", {"shape": [4]}), ("Dense", {"units": 3}))
    graph.set_trainable(nodes[1].id, False)
    graph.rename(nodes[1].id, "frozen_head")
    assert statement_of(code_of(graph), "frozen_head") == (
        'outputs = layers.Dense(3, name="frozen_head", trainable=False)(inputs)')


def test_two_inputs_two_outputs():
    code = generate_code(load(ROOT / "resources" / "examples" / "two_headed.nbproj"))
    assert 'class_output = layers.Dense(10, activation="softmax", name="class_output")' in code
    assert "outputs=[class_output, box_output]" in code
    g = Graph()
    a = g.add_node("Input", {"shape": [5]}, name="image_features")
    b = g.add_node("Input", {"shape": [5]}, name="meta")
    add = g.add_node("Add")
    g.connect(a.id, add.id)
    g.connect(b.id, add.id)
    code = code_of(g)
    assert 'image_features = keras.Input(shape=(5,), name="image_features")' in code
    assert 'outputs = layers.Add(name="add")([image_features, meta])' in code
    assert "inputs=[image_features, meta], outputs=outputs" in code
    check_style(code)


def test_x_for_a_chain_named_variables_for_branches():
    code = generate_code(load(ROOT / "resources" / "examples" / "residual_mlp.nbproj"))
    body = build_model_body(code)
    # a tensor used by a later line (the skip connection) is named after its layer
    skip = [line for line in body.splitlines() if "layers.Add" in line]
    assert skip and "[x," not in skip[0] or "x]" in skip[0]
    for line in body.splitlines():
        target = line.strip().split(" = ")[0]
        assert target.isidentifier() or line.strip().startswith(("return", ")", "def"))


def test_layer_with_several_outputs_is_unpacked():
    g = Graph()
    x = g.add_node("Input", {"shape": [10, 8]})
    lstm = g.add_node("LSTM", {"units": 4, "return_state": True})
    a = g.add_node("Dense", {"units": 2})
    b = g.add_node("Dense", {"units": 2})
    g.connect(x.id, lstm.id)
    g.connect(lstm.id, a.id, 0)
    g.connect(lstm.id, b.id, 2)
    code = code_of(g)
    assert statement_of(code, "layers.LSTM") == (
        'lstm_out0, _, lstm_out2 = layers.LSTM(4, return_state=True, name="lstm")(inputs)')
    assert '(lstm_out0)' in code and '(lstm_out2)' in code
    check_style(code)


def test_identifiers_from_any_layer_name():
    g = Graph()
    x = g.add_node("Input", {"shape": [4]})
    merge = g.add_node("Concatenate")
    names = ("inputs", "1x1", "lambda", "x", "conv-1.a", "keras")
    for name in names:
        dense = g.add_node("Dense", {"units": 3}, name=name)
        g.connect(x.id, dense.id)
        g.connect(dense.id, merge.id)
    code = code_of(g)
    check_style(code)
    assert statement_of(code, "layers.Concatenate") == (
        'outputs = layers.Concatenate(name="concatenate")'
        '([inputs_out, layer_1x1, lambda_, x_out, conv_1_a, x])')
    assert 'inputs_out = layers.Dense(3, name="inputs")(inputs)' in code
    assert 'x = layers.Dense(3, name="keras")(inputs)' in code


def residual_block() -> Block:
    sub = Graph()
    x = sub.add_node("Input", {"shape": [16]})
    d1 = sub.add_node("Dense", {"units": 16, "activation": "relu"}, name="dense_a")
    d2 = sub.add_node("Dense", {"units": 16}, name="dense_b")
    add = sub.add_node("Add", name="add")
    act = sub.add_node("Activation", {"activation": "relu"}, name="relu")
    for src, dst in ((x, d1), (d1, d2), (x, add), (d2, add), (add, act)):
        sub.connect(src.id, dst.id)
    return Block("residual_unit", sub, [x.id], [(act.id, 0)])


def base_block() -> Block:
    sub = Graph()
    x = sub.add_node("Input", {"shape": [16]})
    d = sub.add_node("Dense", {"units": 8, "activation": "relu"}, name="base_dense")
    sub.connect(x.id, d.id)
    return Block("base", sub, [x.id], [(d.id, 0)], kind="model")


def block_graph(frozen_model: bool = True) -> Graph:
    g = Graph()
    g.add_block(residual_block())
    g.add_block(base_block())
    i = g.add_node("Input", {"shape": [16]})
    r1 = g.add_node("Block", {"block": "residual_unit"})
    r2 = g.add_node("Block", {"block": "residual_unit"})
    m = g.add_node("Block", {"block": "base"}, trainable=not frozen_model)
    out = g.add_node("Dense", {"units": 3, "activation": "softmax"})
    for src, dst in ((i, r1), (r1, r2), (r2, m), (m, out)):
        g.connect(src.id, dst.id)
    return g


def test_function_block_used_twice_is_one_function_called_twice():
    code = code_of(block_graph())
    assert code.count("def residual_unit(") == 1
    assert code[code.index("def residual_unit("):code.index("\n\n\n", code.index(
        "def residual_unit("))] == textwrap.dedent('''\
        def residual_unit(x, name):
            dense_a = layers.Dense(16, activation="relu", name=f"{name}_dense_a")(x)
            dense_b = layers.Dense(16, name=f"{name}_dense_b")(dense_a)
            x = layers.Add(name=f"{name}_add")([x, dense_b])
            x = layers.Activation("relu", name=f"{name}_relu")(x)
            return x''')
    body = build_model_body(code)
    assert 'x = residual_unit(inputs, name="residual_unit")' in body
    assert 'x = residual_unit(x, name="residual_unit_1")' in body
    check_style(code)


def test_model_block_is_a_function_building_a_nested_model():
    code = code_of(block_graph())
    assert textwrap.dedent('''\
        def build_base(name="base"):
            inputs = keras.Input(shape=(16,), name="input_layer")
            outputs = layers.Dense(8, activation="relu", name="base_dense")(inputs)
            return keras.Model(inputs=inputs, outputs=outputs, name=name)''') in code
    body = build_model_body(code)
    assert "    base = build_base()\n    base.trainable = False\n    x = base(x)\n" in body
    assert "base.trainable" not in code_of(block_graph(frozen_model=False))
    # functions come before the function that calls them
    assert code.index("def residual_unit(") < code.index("def build_model(")


def test_sequential_block_is_a_function_returning_a_sequential():
    g = Graph()
    sub = Graph()
    x = sub.add_node("Input", {"shape": [16]})
    d = sub.add_node("Dense", {"units": 8, "activation": "relu"}, name="stem_dense")
    bn = sub.add_node("BatchNormalization", name="stem_bn", trainable=False)
    sub.connect(x.id, d.id)
    sub.connect(d.id, bn.id)
    g.add_block(Block("stem", sub, [x.id], [(bn.id, 0)], kind="sequential"))
    i = g.add_node("Input", {"shape": [16]})
    s = g.add_node("Block", {"block": "stem"}, trainable=False)
    out = g.add_node("Dense", {"units": 3})
    g.connect(i.id, s.id)
    g.connect(s.id, out.id)
    code = code_of(g)
    assert textwrap.dedent('''\
        def build_stem(name="stem"):
            return keras.Sequential(
                [
                    keras.Input(shape=(16,), name="input_layer"),
                    layers.Dense(8, activation="relu", name="stem_dense"),
                    layers.BatchNormalization(name="stem_bn", trainable=False),
                ],
                name=name,
            )''') in code
    body = build_model_body(code)
    assert "    stem = build_stem()\n    stem.trainable = False\n    x = stem(inputs)\n" in body
    check_style(code)
    black = pytest.importorskip("black")
    assert black.format_str(code, mode=black.Mode(line_length=99)) == code


def test_frozen_function_block_instance_freezes_that_call():
    g = block_graph()
    first = next(n for n in g.nodes.values() if n.name == "residual_unit")
    g.set_trainable(first.id, False)
    code = code_of(g)
    assert "def residual_unit(x, name, trainable=True):" in code
    assert 'name=f"{name}_dense_a", trainable=trainable)' in code
    assert 'x = residual_unit(inputs, name="residual_unit", trainable=False)' in code
    assert 'x = residual_unit(x, name="residual_unit_1")' in code


def test_block_with_two_inputs_and_two_outputs_nested_in_a_block():
    inner = Graph()
    a = inner.add_node("Input", {"shape": [8]}, name="left")
    b = inner.add_node("Input", {"shape": [8]}, name="right")
    add = inner.add_node("Add")
    mul = inner.add_node("Multiply")
    for src in (a, b):
        inner.connect(src.id, add.id)
        inner.connect(src.id, mul.id)
    pair = Block("pair", inner, [a.id, b.id], [(add.id, 0), (mul.id, 0)])
    outer = Graph()
    outer.blocks["pair"] = pair
    x = outer.add_node("Input", {"shape": [8]})
    d = outer.add_node("Dense", {"units": 8})
    p = outer.add_node("Block", {"block": "pair"})
    cat = outer.add_node("Concatenate")
    outer.connect(x.id, d.id)
    outer.connect(x.id, p.id)
    outer.connect(d.id, p.id)
    outer.connect(p.id, cat.id, 0)
    outer.connect(p.id, cat.id, 1)
    wrapper = Block("wrapper", outer, [x.id], [(cat.id, 0)])
    g = Graph()
    g.add_block(pair)
    g.add_block(wrapper)
    i = g.add_node("Input", {"shape": [8]})
    w = g.add_node("Block", {"block": "wrapper"})
    g.connect(i.id, w.id)
    code = code_of(g)
    check_style(code)
    assert "def pair(left, right, name):" in code
    assert "return add, multiply" in code
    assert 'pair_out0, pair_out1 = pair(x, dense, name=f"{name}_pair")' in code
    assert code.index("def pair(") < code.index("def wrapper(") < code.index("def build_model")
    assert 'outputs = wrapper(inputs, name="wrapper")' in code


def test_model_block_inside_a_function_block_is_passed_in():
    g = block_graph()
    fn = g.blocks["residual_unit"]
    sub = fn.graph
    sub.blocks["base"] = g.blocks["base"]
    relu = sub.node_by_name("relu")
    base = sub.add_node("Block", {"block": "base"})
    up = sub.add_node("Dense", {"units": 16}, name="up")
    sub.connect(relu.id, base.id)
    sub.connect(base.id, up.id)
    g.add_block(Block("residual_unit", sub, fn.inputs, [(up.id, 0)]))
    code = code_of(g)
    check_style(code)
    assert "def residual_unit(x, name, residual_unit_base):" in code
    assert ("x = residual_unit(inputs, name=\"residual_unit\", "
            "residual_unit_base=residual_unit_base)") in code
    # one model shared by every instance (as the Keras build does), named after its first
    # instance and made before its first use
    assert code.count("build_base(") == 2
    assert 'def build_base(name="residual_unit_base"):' in code
    assert code.index("residual_unit_base = build_base()") < code.index(
        "x = residual_unit(inputs")
    assert "    x = residual_unit_base(x)\n" in build_model_body(code)


# --- always valid code -----------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_exports_valid_code(path):
    project = load(path)
    code = generate_code(project)
    check_style(code)
    for node in project.graph.nodes.values():
        assert f'name="{node.name}"' in code
    assert generate_code(loads(dumps(project))) == code  # deterministic, across a save


@settings(max_examples=40)
@given(graphs())
def test_random_graphs_export_valid_code(graph):
    code = code_of(graph, "random")
    check_style(code)
    for node in graph.nodes.values():
        assert f'name="{node.name}"' in code
    assert code_of(graph, "random") == code


def test_black_would_leave_the_code_as_it_is():
    black = pytest.importorskip("black")
    mode = black.Mode(line_length=99)
    codes = [generate_code(load(p)) for p in EXAMPLES] + [code_of(block_graph())]
    for code in codes:
        assert black.format_str(code, mode=mode) == code


def test_wrapping_follows_black():
    graph, nodes = chain(("Input", {"shape": [32, 32, 3]}),
                         ("Conv2D", {"filters": 64, "kernel_size": 3, "strides": 2,
                                     "padding": "same", "activation": "relu",
                                     "kernel_initializer": "he_normal", "use_bias": False}),
                         ("Conv2D", {"filters": 64, "kernel_size": 3, "padding": "same",
                                     "activation": "relu"}))
    graph.rename(nodes[1].id, "block1_conv1_with_a_long_name")
    graph.rename(nodes[2].id, "block1_conv2_with_a_long_name")
    body = build_model_body(code_of(graph))
    assert textwrap.dedent('''\
            x = layers.Conv2D(
                64,
                3,
                strides=2,
                padding="same",
                activation="relu",
                use_bias=False,
                kernel_initializer="he_normal",
                name="block1_conv1_with_a_long_name",
            )(inputs)
            outputs = layers.Conv2D(
                64, 3, padding="same", activation="relu", name="block1_conv2_with_a_long_name"
            )(x)''').replace("\n", "\n    ") in "    " + body.split("\n", 2)[2]


def test_invalid_graph_is_refused_naming_the_layer():
    graph, _ = chain(("Input", {"shape": [784]}), ("Conv2D", {"filters": 4, "kernel_size": 3}))
    with pytest.raises(CodegenError, match="conv2d: Conv2D expects input of rank 4"):
        code_of(graph)


def test_model_names():
    assert model_name("mnist_cnn") == "mnist_cnn"
    assert model_name("my model/v2") == "my_model_v2"
    assert model_name("  ") == "model"


def test_docstring_with_quotes_and_backslashes_stays_valid():
    graph, _ = chain(("Input", {"shape": [4]}), ("Dense", {"units": 2}))
    project = Project(graph, 'say "hi"', description='A \\ backslash and """ quotes "')
    code = generate_code(project)
    check_style(code)
    assert ast.get_docstring(ast.parse(code)).startswith('The "say__hi_" model')


# --- the command ------------------------------------------------------------------------------


def run_export(*args: str) -> subprocess.CompletedProcess[str]:
    """``netbuilder export`` with Keras, TensorFlow and Qt made unimportable: writing Python
    needs none of them."""
    code = textwrap.dedent("""\
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("keras", "tensorflow", "PySide6", "pyqtgraph"):
                    raise ImportError(f"blocked: {name}")
        sys.meta_path.insert(0, Block())
        from netbuilder.cli import main
        sys.exit(main(sys.argv[1:]))
        """)
    return subprocess.run([sys.executable, "-c", code, "export", *args], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)


def test_export_command_writes_the_code_at_the_path_given(tmp_path):
    out = tmp_path / "model.txt"  # any extension: the path is used as given
    result = run_export(str(ROOT / "resources" / "examples" / "mnist_cnn.nbproj"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert out.read_text() == generate_code(
        load(ROOT / "resources" / "examples" / "mnist_cnn.nbproj"))
    assert [p.name for p in tmp_path.iterdir()] == ["model.txt"]  # no temporary file left


def test_export_command_refuses_an_invalid_graph(tmp_path):
    graph, _ = chain(("Input", {"shape": [784]}), ("Conv2D", {"filters": 4, "kernel_size": 3}))
    project_file = tmp_path / "bad.nbproj"
    project_file.write_text(dumps(Project(graph, "bad")))
    out = tmp_path / "bad.py"
    out.write_text("old\n")
    result = run_export(str(project_file), "-o", str(out))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "error: conv2d: Conv2D expects input of rank 4" in result.stderr
    assert out.read_text() == "old\n"


def test_export_command_errors_are_one_line(tmp_path):
    result = run_export(str(tmp_path / "missing.nbproj"), "-o", str(tmp_path / "x.py"))
    assert (result.returncode, result.stderr.count("\n")) == (1, 1)
    assert "missing.nbproj: no such file" in result.stderr
    result = run_export(str(ROOT / "resources" / "examples" / "mlp.nbproj"), "-o",
                        str(tmp_path / "no" / "such" / "dir.py"))
    assert (result.returncode, result.stderr.count("\n")) == (1, 1)
    assert "cannot write" in result.stderr and "Traceback" not in result.stderr
