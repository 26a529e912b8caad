"""A demo model whose two builds differ the way CPU and CUDA builds of a framework do.

The build writes ``_variant.py`` with the variant it was built for; the CUDA build's package
depends on ``__cuda >=12``, so solvers only pick it on hosts with a CUDA 12 driver.
"""

import numpy as np

__version__ = "0.1.0"

try:
    from ._variant import VARIANT
except ImportError:  # a source checkout, not a built package
    VARIANT = "source"


class Threshold:
    """Binary mask of pixels above the image mean; ``device`` tells which build runs it."""

    device = VARIANT

    def predict(self, X):
        image = np.asarray(X, dtype=np.float64)
        return (image > image.mean()).astype(np.uint8)
