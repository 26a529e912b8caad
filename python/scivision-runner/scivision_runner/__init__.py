"""scivision-runner: serve a Scivision model from its own prefix (``python -m scivision_runner``),
and call it from any Python (``load_model``)."""

__version__ = "0.1.0"

from .client import Model, ModelError, load_model  # noqa: E402

__all__ = ["Model", "ModelError", "load_model"]
