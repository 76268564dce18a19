"""k-nlp-kit helpers: the small package every lesson imports.

The task is the unit (``helpers.tasks``) and the layers are in the README's map; heavy libraries are imported inside the
functions that need them, so ``import helpers`` is fast and works without a GPU.
"""

__version__ = "0.1.0"
