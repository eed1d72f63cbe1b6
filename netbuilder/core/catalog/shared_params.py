"""Parameters that many layer families share, written once."""

from __future__ import annotations

from netbuilder.core.catalog.base import Param


def weight_params(prefix: str, initializer: str, what: str) -> tuple[Param, ...]:
    """``{prefix}_initializer``, ``_regularizer`` and ``_constraint`` for one weight."""
    return (
        Param(f"{prefix}_initializer", "initializer", initializer,
              f"How the {what} is initialised before training."),
        Param(f"{prefix}_regularizer", "regularizer", None,
              f"Penalty on the {what} added to the loss (L1, L2), or none."),
        Param(f"{prefix}_constraint", "constraint", None,
              f"Constraint applied to the {what} after each update (e.g. max_norm), or none."),
    )


def activation_param(default: str = "linear") -> Param:
    return Param("activation", "activation", default,
                 "Function applied to the output ('linear' = none).")


def use_bias_param(default: bool = True) -> Param:
    return Param("use_bias", "bool", default, "Whether the layer adds a learned bias.")


ACTIVITY_REGULARIZER = Param("activity_regularizer", "regularizer", None,
                             "Penalty on the layer's output added to the loss, or none.")

DATA_FORMAT = Param("data_format", "choice", None,
                    "Where the channels are: 'channels_last' (…, C) or 'channels_first' (C, …); "
                    "None uses Keras' default (channels_last).",
                    choices=(None, "channels_last", "channels_first"))

PADDING = Param("padding", "choice", "valid",
                "'valid': no padding, the output shrinks; 'same': pad so that output = "
                "ceil(input / strides).", choices=("valid", "same"))

SEED = Param("seed", "int", None, "Random seed (none: a different one each run).",
             nullable=True)


def rate_param(help_text: str) -> Param:
    return Param("rate", "float", 0.5, help_text, minimum=0.0, maximum=1.0, required=True)
