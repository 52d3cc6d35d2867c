"""Run records and the store that keeps them."""

from .model import Run, OutputImage  # noqa: F401
from .store import RunStore  # noqa: F401
