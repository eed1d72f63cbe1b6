"""The Qt-free, Keras-free heart of NetBuilder: graph model, layer catalog, shape and parameter
inference, project files. Imports only the standard library."""
