"""A model pinned to numpy 1.x, like many published models: it uses ``numpy.float_``."""

import numpy as np

__version__ = "0.1.0"


class Normalise:
    """Scales an image to [0, 1] in numpy 1.x's ``float_``."""

    def predict(self, X):
        image = np.asarray(X, dtype=np.float_)
        span = image.max() - image.min()
        return (image - image.min()) / (span if span else 1.0)
