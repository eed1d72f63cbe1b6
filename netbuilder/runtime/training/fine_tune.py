"""Fine-tuning as in Keras' transfer-learning guide.

These two functions are copied as they are into exported training code (``code.py``): plain
Python formatted as black writes it, nothing from another module."""


def find_layer_path(model, name):
    """The models from ``model`` down to the one that holds the layer called ``name`` (its own
    layers first, then the nested models in order) and the layer's index in the last one; None
    when no layer has that name."""
    for index, layer in enumerate(model.layers):
        if layer.name == name:
            return [model], index
    for layer in model.layers:
        if hasattr(layer, "layers"):
            found = find_layer_path(layer, name)
            if found is not None:
                return [model] + found[0], found[1]
    return None


def unfreeze_from(model, name):
    """Fine-tuning as in Keras' transfer-learning guide: the layer called ``name`` and every
    layer after it in its (nested) model become trainable, the earlier ones frozen, and
    BatchNormalization layers stay frozen (so they keep running in inference mode). Every other
    layer keeps its setting. Returns the number of trainable parameters."""
    import math

    import keras

    found = find_layer_path(model, name)
    if found is None:
        raise ValueError(f"the model has no layer named {name!r}")
    models, index = found

    def walk(layer):
        yield layer
        for inner in getattr(layer, "layers", []):
            yield from walk(inner)

    before = [(layer, layer.trainable) for layer in walk(model)]
    for outer in models:  # open the way down to the layer (this sets every layer inside)
        outer.trainable = True
    for layer, trainable in before:  # every other layer as it was, outer before inner
        if not any(layer is outer for outer in models):
            layer.trainable = trainable
    for i, layer in enumerate(models[-1].layers):
        layer.trainable = i >= index
        for inner in walk(layer):
            if isinstance(inner, keras.layers.BatchNormalization):
                inner.trainable = False
    return sum(math.prod(weight.shape) for weight in model.trainable_weights)
