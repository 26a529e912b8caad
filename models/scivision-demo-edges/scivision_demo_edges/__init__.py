"""Sobel edge magnitude of a grayscale image, in numpy: scivision's first-party demo model.

The model interface follows Scivision's model.yml: import ``scivision_demo_edges``, class
``SobelEdges``, prediction function ``predict`` with the image as ``X``.
"""

import logging
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

__version__ = "0.1.0"

SAMPLE = Path(__file__).parent / "data" / "sample.png"

_KX = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
_KY = _KX.T


def _correlate(image, kernel):
    padded = np.pad(image, 1, mode="edge")
    out = np.zeros_like(image, dtype=np.float64)
    for dy in range(3):
        for dx in range(3):
            out += kernel[dy, dx] * padded[dy : dy + image.shape[0], dx : dx + image.shape[1]]
    return out


class SobelEdges:
    """Edge magnitude sqrt(gx**2 + gy**2) with 3x3 Sobel kernels and edge padding.

    ``X`` is an image array, or the path of a PNG file, which is read upright (see
    :func:`load_image`).
    """

    def predict(self, X):
        if isinstance(X, (str, Path)):
            X = load_image(X)
        image = np.asarray(X, dtype=np.float64)
        if image.ndim == 3:
            image = image[..., :3].mean(axis=2)
        if image.ndim != 2:
            raise ValueError(f"expected a 2-D grayscale or 3-D colour image, got shape {image.shape}")
        return np.hypot(_correlate(image, _KX), _correlate(image, _KY))


def load_png(path):
    """Reads an 8-bit grayscale or RGB PNG (non-interlaced) into an array, with zlib only."""
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG file")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    channels = {0: 1, 2: 3}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"{path}: only 8-bit non-interlaced grayscale or RGB PNG is supported")
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8)
    stride = width * channels
    rows = raw.reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.int32)
    for y in range(height):
        ftype, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        prev = out[y - 1] if y else np.zeros(stride, dtype=np.int32)
        if ftype == 0:
            out[y] = line
        elif ftype == 2:
            out[y] = (line + prev) % 256
        else:
            cur = np.zeros(stride, dtype=np.int32)
            for x in range(stride):
                left = cur[x - channels] if x >= channels else 0
                up = prev[x]
                if ftype == 1:
                    cur[x] = (line[x] + left) % 256
                elif ftype == 3:
                    cur[x] = (line[x] + (left + up) // 2) % 256
                else:
                    ul = prev[x - channels] if x >= channels else 0
                    p = left + up - ul
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - ul)
                    pred = left if pa <= pb and pa <= pc else (up if pb <= pc else ul)
                    cur[x] = (line[x] + pred) % 256
            out[y] = cur
    image = out.astype(np.uint8)
    return image if channels == 1 else image.reshape(height, width, 3)


# EXIF orientation -> (number of 90 degree counter-clockwise turns, mirror first).
_ORIENTATION = {1: (0, False), 2: (0, True), 3: (2, False), 4: (2, True),
                5: (1, True), 6: (3, False), 7: (3, True), 8: (1, False)}


def orientation(path):
    """The EXIF orientation tag (1-8, 1 when absent), read with ExifRead, a PyPI-only package."""
    import exifread  # the model's PyPI dependency: not a conda package

    # ExifRead logs a warning for every image without EXIF data; most PNGs have none.
    logging.getLogger("exifread").setLevel(logging.ERROR)
    with open(path, "rb") as f:
        tags = exifread.process_file(f, details=False, stop_tag="Orientation")
    tag = tags.get("Image Orientation")
    return int(tag.values[0]) if tag is not None and tag.values else 1


def load_image(path):
    """Reads a PNG and turns it upright according to its EXIF orientation."""
    image = load_png(path)
    turns, mirror = _ORIENTATION.get(orientation(path), (0, False))
    if mirror:
        image = image[:, ::-1]
    return np.rot90(image, turns)


def main(argv=None):
    """`scivision-demo-edges [IMAGE.png]`: prints the edge map's shape and its strongest edge."""
    import exifread

    argv = sys.argv[1:] if argv is None else argv
    path = argv[0] if argv else SAMPLE
    edges = SobelEdges().predict(path)
    print(f"shape={edges.shape} max={edges.max():.1f} mean={edges.mean():.3f} "
          f"orientation={orientation(path)} (exifread {exifread.__version__})")
    return 0
