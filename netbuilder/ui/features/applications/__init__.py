"""Keras Applications in the editor: the "Keras Application…" dialog, placing one as a block node
(one undo step), the parameter editor's freezing controls ("Frozen", "Fine-tune from layer"),
and the transfer-learning recipes (a classifier head; two-stage fine-tuning wired into the
training settings). ``actions.ApplicationActions`` plugs them into the editor.

Keras is only imported in background jobs (``dialogs.import_model.Job``): making the
Application's layers and looking for its ImageNet weights in Keras' cache take seconds.
"""
