"""Everything that needs Keras: building Keras layers and models from the graph, importing Keras
models, data, training. Keras is imported lazily, inside functions; Qt never."""
