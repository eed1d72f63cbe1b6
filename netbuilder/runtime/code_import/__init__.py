"""Import a Keras model from Python code (``netbuilder import FILE.py --allow-code``, File ▸
Import ▸ From Python Code…): ``source`` parses it (no Keras), ``runner`` runs it in a child
process with a time limit (``worker``, which uses ``sandbox``'s guards: offline, no training,
``compile`` read into the training settings by ``compile_args``)."""
