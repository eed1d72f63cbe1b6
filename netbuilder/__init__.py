"""NetBuilder: design neural networks visually, train them, and take them away as Keras code."""

__version__ = "0.1.0"
