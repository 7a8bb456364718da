"""One frozen record of what a night (or a calibrate, attribute or backfill run) was run with.

:class:`NightSettings` is validated by pydantic and stored whole in ``runs.parameters`` beside the run's
own keys (``date``, ``as_of``, ``symbols``), so the settings of any stored row can be read back from its
run (:meth:`NightSettings.from_parameters`) and the row reproduced (:meth:`NightSettings.flow_parameters`).
Its defaults are the flows' defaults (``flows.settings``), defined there once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flows.settings import DEFAULT_BATCH_SYMBOLS, DEFAULT_GARCH_DAYS, DEFAULT_LOOKBACK_DAYS, Runner
from kappa.errors import ParameterError
from kappa.units import DEFAULT_CALENDAR


class NightSettings(BaseModel):
    """The settings of a night: where, on which exchange's sessions, over which windows, in which batches.

    Attributes
    ----------
    home
        The Kappa home's folder (``KAPPA_HOME``).
    calendar
        ``exchange_calendars`` code whose sessions the data are dated in.
    lookback_days
        Sessions of intraday data for σ realized, γ, η and ε (≥ 1).
    garch_days
        Daily closes for GARCH(1,1) (≥ 0).
    batch_symbols
        Symbols per calibration or attribution task (≥ 1).
    task_runner
        Where the batch tasks ran: ``threads``, ``processes`` or ``dask``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: str
    calendar: str = DEFAULT_CALENDAR
    lookback_days: int = Field(DEFAULT_LOOKBACK_DAYS, ge=1)
    garch_days: int = Field(DEFAULT_GARCH_DAYS, ge=0)
    batch_symbols: int = Field(DEFAULT_BATCH_SYMBOLS, ge=1)
    task_runner: Runner = Runner.threads

    @classmethod
    def checked(cls, **values: Any) -> NightSettings:
        """The record of ``values``; a value pydantic refuses is a :class:`ParameterError` naming it."""
        try:
            return cls(**values)
        except ValidationError as exc:
            first = exc.errors()[0]
            name = ".".join(str(p) for p in first["loc"])
            raise ParameterError(
                f"{name} = {first.get('input')!r}: {first['msg']}", name=name, value=first.get("input")
            ) from None

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any]) -> NightSettings:
        """The settings stored in a run's ``parameters`` (its other keys, e.g. ``date``, left aside)."""
        return cls.checked(**{k: v for k, v in parameters.items() if k in cls.model_fields})

    def run_parameters(self, **own: object) -> dict[str, object]:
        """What a run stores in ``runs.parameters``: its own keys (``date``, ``as_of``, ...) and the whole
        record, as JSON values."""
        return {**own, **self.model_dump(mode="json")}

    def flow_parameters(self) -> dict[str, object]:
        """The keyword arguments of the ``calibrate`` flow (and ``nightly``, ``backfill``) these settings
        give; ``task_runner`` is the caller's (``Flow.with_options``)."""
        return self.model_dump(exclude={"task_runner"})
