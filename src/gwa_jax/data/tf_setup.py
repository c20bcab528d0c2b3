"""TensorFlow for the input pipeline only, kept off any accelerator JAX uses.

Every data module that runs TensorFlow ops imports ``tf`` from here, so the GPU is hidden
from TensorFlow before its first op, whichever module comes first. The TensorFlow-free parts
of the data layer (``splits``, ``noise``, ``labels``, ``idx``, ``registry``) do not import it.
"""

import tensorflow as tf

try:
    tf.config.set_visible_devices([], "GPU")
except RuntimeError:  # Devices already initialised; nothing to do.
    pass

__all__ = ["tf"]
