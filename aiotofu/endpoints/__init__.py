"""TofuPilot's list endpoints, one small declarative module each: a filters class and an
``Endpoint`` value (see ``aiotofu/_endpoint.py`` and ``aiotofu/_filters.py``)."""

from .batches import BATCHES, BatchFilters
from .deployments import DEPLOYMENTS, DeploymentFilters
from .logs import LOGS, LogFilters
from .measurements import MEASUREMENTS, MeasurementFilters
from .parts import PARTS, PartFilters
from .phases import PHASES, PhaseFilters
from .procedures import PROCEDURES, ProcedureFilters
from .runs import RUNS, RunFilters
from .stations import STATIONS, StationFilters
from .units import UNITS, UnitFilters

ENDPOINTS = (
    BATCHES,
    UNITS,
    RUNS,
    PARTS,
    PROCEDURES,
    STATIONS,
    DEPLOYMENTS,
    LOGS,
    PHASES,
    MEASUREMENTS,
)
"""Every paginated list endpoint, in the order the README and the command line show them."""

__all__ = [
    "BATCHES",
    "DEPLOYMENTS",
    "ENDPOINTS",
    "LOGS",
    "MEASUREMENTS",
    "PARTS",
    "PHASES",
    "PROCEDURES",
    "RUNS",
    "STATIONS",
    "UNITS",
    "BatchFilters",
    "DeploymentFilters",
    "LogFilters",
    "MeasurementFilters",
    "PartFilters",
    "PhaseFilters",
    "ProcedureFilters",
    "RunFilters",
    "StationFilters",
    "UnitFilters",
]
