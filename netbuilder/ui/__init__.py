"""The editor: PySide6 widgets over the core's graph. The only package that imports Qt."""
