"""TofuPilot's list endpoints, one small declarative module each: a filters class and an
``Endpoint`` value (see ``aiotofu/_endpoint.py`` and ``aiotofu/_filters.py``)."""

from .batches import BATCHES, BatchFilters

__all__ = ["BATCHES", "BatchFilters"]
