"""TofuPilot's list endpoints, one small declarative module each: a filters class and an
``Endpoint`` value (see ``aiotofu/_endpoint.py`` and ``aiotofu/_filters.py``)."""

from .batches import BATCHES, BatchFilters
from .parts import PARTS, PartFilters
from .stations import STATIONS, StationFilters

__all__ = ["BATCHES", "PARTS", "STATIONS", "BatchFilters", "PartFilters", "StationFilters"]
