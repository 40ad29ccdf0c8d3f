"""TofuPilot's list endpoints, one small declarative module each: a filters class and an
``Endpoint`` value (see ``aiotofu/_endpoint.py`` and ``aiotofu/_filters.py``)."""

from .batches import BATCHES, BatchFilters
from .parts import PARTS, PartFilters

__all__ = ["BATCHES", "PARTS", "BatchFilters", "PartFilters"]
