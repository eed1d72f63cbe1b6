"""Training data: load a source, split it, describe it, and fit it to a model.

Sources (``load(source, options)``, ``sources.py``):

* ``"digits"``: scikit-learn's bundled 8x8 digits (1,797 images, no download);
* ``"shapes"``: generated coloured shapes (circle, square, triangle...), chosen image size and
  number of classes, deterministic for a seed (``shapes.py``);
* ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"``: read from Keras' cache (``$KERAS_HOME`` or
  ``~/.keras``, ``datasets/``) in the files ``keras.datasets`` downloads; when they are missing,
  ``keras.datasets`` is asked to download them, and offline that gives a message naming the file
  (``keras_datasets.py``);
* a folder of images with one sub-folder per class (optionally ``train/`` and ``test/`` folders
  holding those), read with ``keras.utils.image_dataset_from_directory`` (``folders.py``);
* a ``.npz`` file (``x``/``y`` or ``x_train``/``y_train``/``x_test``/``y_test`` arrays) and a
  ``.csv`` table (the label column named in the options, else the last one) (``files.py``).

``load`` gives a ``Dataset`` (``dataset.py``): train / validation / test splits (by default 20%
of the training data is held out for validation; ``options.py``), class names, counts, a few
sample images and notes saying what was done. ``prepare(dataset, model)`` (``fitting.py``) then
fits it to a ``keras.Model``: inputs are adapted to the model's input (channel axis, grayscale
<-> RGB, resize, flatten, 0..1 scaling; or, for a model whose Input feeds a Keras Application,
0-255 pixels through that Application's ``preprocess_input``, with augmentation on the pixels
before it), labels are matched to each output and a loss is chosen to match (``loss.py``:
sparse / categorical / binary cross-entropy, or a regression loss). ``fit_inputs``
(``feeding.py``) hands the prepared splits to ``model.fit``. Anything that cannot work raises
``DataError`` with one message naming the problem. Keras and TensorFlow are imported only where
they are needed.
"""

from netbuilder.runtime.data.dataset import DataError, Dataset, Split, to_uint8
from netbuilder.runtime.data.feeding import (
    augmentation_layers,
    augmentation_model,
    augmented_images,
    augmented_preview,
    describe_augmentation,
    fit_inputs,
)
from netbuilder.runtime.data.fitting import (
    Prepared,
    PreparedSplit,
    apply_transform,
    make_transform,
    model_rescales,
    plan_inputs,
    prepare,
    preprocess_name,
)
from netbuilder.runtime.data.folders import tf_message
from netbuilder.runtime.data.keras_datasets import KERAS_DATASETS, keras_cache_dirs
from netbuilder.runtime.data.loss import model_outputs, output_classes
from netbuilder.runtime.data.options import (
    AUGMENTATIONS,
    DEFAULT_OPTIONS,
    FLIP_MODES,
    resolve_options,
)
from netbuilder.runtime.data.sources import BUILTIN_SOURCES, load

__all__ = [
    "AUGMENTATIONS", "BUILTIN_SOURCES", "DEFAULT_OPTIONS", "FLIP_MODES", "KERAS_DATASETS",
    "DataError", "Dataset", "Prepared", "PreparedSplit", "Split", "apply_transform",
    "augmentation_layers", "augmentation_model", "augmented_images", "augmented_preview",
    "describe_augmentation", "fit_inputs", "keras_cache_dirs", "load", "make_transform",
    "model_outputs", "model_rescales", "output_classes", "plan_inputs", "prepare",
    "preprocess_name", "resolve_options", "tf_message", "to_uint8",
]
