"""What one training batch needs in memory, shown before training crashes: inference (the
weights and the largest layer with its inputs), training (every activation, the weights, their
gradients and the optimizer's slots), and advice when it does not fit."""

from helpers import chain, mlp

from netbuilder.core.summary import (
    available_memory,
    estimate_memory,
    format_text,
    memory_warning,
    summarize,
)

WEIGHTS = 55_050 * 4
PER_SAMPLE = (784 + 64 + 64 + 10) * 4


def test_the_mlp_at_batch_32_with_adam():
    g, _ = mlp()
    m = estimate_memory(g)
    assert (m.batch_size, m.optimizer, m.slots) == (32, "adam", 2)
    assert m.activations == 32 * PER_SAMPLE
    assert m.inference == WEIGHTS + 32 * (784 + 64) * 4
    assert m.training == WEIGHTS + 32 * PER_SAMPLE + WEIGHTS * (1 + 2)
    assert m.text() == "Memory at batch 32: inference 321.04 KiB, training 975.41 KiB (Adam)"


def test_optimizer_and_batch_size_from_the_settings():
    g, (_, first, *_) = mlp()
    sgd = estimate_memory(g, {"optimizer": "sgd", "momentum": 0, "batch_size": 128})
    assert sgd.slots == 0 and sgd.training == WEIGHTS * 2 + 128 * PER_SAMPLE
    assert estimate_memory(g, {"optimizer": "sgd"}).slots == 1  # momentum 0.9 by default
    g.set_trainable(first.id, False)  # frozen weights: no gradients, no slots
    frozen = 784 * 64 + 64
    assert estimate_memory(g).training == (WEIGHTS + 32 * PER_SAMPLE
                                           + (WEIGHTS - frozen * 4) * 3)


def test_summary_shows_it_under_the_totals():
    g, _ = mlp()
    text = format_text(summarize(g, "mlp", {"batch_size": 64, "optimizer": "rmsprop"}))
    assert text.splitlines()[-1].startswith("Memory at batch 64: inference ")
    assert text.rstrip().endswith("(RMSprop)")
    g, _ = chain(("Input", {"shape": [784]}), ("Conv2D", {"filters": 8}))
    assert summarize(g).memory_estimate is None  # not while the model has errors


def test_warning_when_training_does_not_fit():
    g, _ = chain(("Input", {"shape": [224, 224, 3]}),
                 ("Conv2D", {"filters": 64, "kernel_size": 3, "padding": "same"}),
                 ("Conv2D", {"filters": 64, "kernel_size": 3, "padding": "same"}),
                 ("Flatten", {}), ("Dense", {"units": 10, "activation": "softmax"}))
    m = estimate_memory(g, {"batch_size": 256})
    assert memory_warning(m, m.training) is None
    warning = memory_warning(m, m.training // 4)
    assert "training at batch 256 needs about" in warning
    fits = int(warning.split("a batch size of ")[1].split()[0])
    assert 1 <= fits < 256
    assert estimate_memory(g, {"batch_size": fits}).training <= m.training // 4
    assert "a stride or pooling early" in warning and "fewer layers" in warning
    assert "even batch 1 does not fit" in memory_warning(m, m.weights)
    assert memory_warning(m, None) is None
    assert available_memory() is None or available_memory() > 0
