"""A learned 3x3 filter: scivision's first-party model whose weights are not in its package.

It loads them the two ways upstream Scivision models do, unchanged by scivision:
- the filter with ``pooch.retrieve(url, known_hash)`` into pooch's default cache (as
  resnet50-plankton, vedge-detector, canopy-quality and detectreeRGB-forest do);
- the gain from ``gain.txt`` in the working directory, downloaded there when missing and with no
  hash (as flower- and butterfly-classification-model do).

Nobody serves ``weights.scivision.invalid``: the tests serve the files with nginx and point
``scivision weights fetch --mirror`` at it; with the files fetched, the model needs no network.
"""

import urllib.request
from pathlib import Path

import numpy as np
import pooch

__version__ = "0.1.0"

FILTER_URL = "https://weights.scivision.invalid/demo/v1/filter.npy"
FILTER_HASH = "sha256:669d3fdb617d553e6ccda14a90deff82c44d993f4b3817742660252c4df92476"
GAIN_URL = "https://weights.scivision.invalid/demo/v1/gain.txt"
GAIN_FILE = "gain.txt"


class LearnedFilter:
    """Correlates a grayscale image with the downloaded 3x3 filter, times the downloaded gain."""

    def __init__(self):
        self.kernel = np.load(pooch.retrieve(url=FILTER_URL, known_hash=FILTER_HASH), allow_pickle=False)
        if not Path(GAIN_FILE).exists():
            urllib.request.urlretrieve(GAIN_URL, GAIN_FILE)
        self.gain = float(Path(GAIN_FILE).read_text())

    def predict(self, X):
        image = np.asarray(X, dtype=np.float64)
        if image.ndim == 3:
            image = image[..., :3].mean(axis=2)
        padded = np.pad(image, 1, mode="edge")
        out = np.zeros_like(image)
        for dy in range(3):
            for dx in range(3):
                out += self.kernel[dy, dx] * padded[dy : dy + image.shape[0], dx : dx + image.shape[1]]
        return self.gain * out
