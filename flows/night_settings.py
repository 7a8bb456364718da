"""One frozen record of what a night (or a calibrate, attribute or backfill run) was run with.

:class:`NightSettings` is validated by pydantic and stored whole in ``runs.parameters`` beside the run's
own keys (``date``, ``as_of``, ``symbols``), so the settings of any stored row can be read back from its
run (:meth:`NightSettings.from_parameters`) and the row reproduced (:meth:`NightSettings.flow_parameters`).
Its defaults are the flows' defaults (``flows.settings``), defined there once; those of its
:class:`Thresholds` are :class:`calibration.records.EstimatorThresholds`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from calibration.records import DEFAULT_THRESHOLDS as _D
from calibration.records import EstimatorThresholds
from flows.settings import DEFAULT_BATCH_SYMBOLS, DEFAULT_GARCH_DAYS, DEFAULT_LOOKBACK_DAYS, Runner
from kappa.errors import ParameterError
from kappa.units import DEFAULT_CALENDAR


class Thresholds(BaseModel):
    """The estimators' thresholds of a night, validated: the fields, meanings and defaults of
    :class:`calibration.records.EstimatorThresholds` (counts ≥ 1, ``gamma_t_min`` ≥ 0,
    ``garch_outlier_mads`` > 0, ``garch_influence_factor`` ≥ 1, every number finite)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_buckets: int = Field(default=_D.min_buckets, ge=1)
    gamma_t_min: float = Field(default=_D.gamma_t_min, ge=0, allow_inf_nan=False)
    min_fills: int = Field(default=_D.min_fills, ge=1)
    min_orders: int = Field(default=_D.min_orders, ge=1)
    min_nights: int = Field(default=_D.min_nights, ge=1)
    min_moving_returns: int = Field(default=_D.min_moving_returns, ge=1)
    garch_min_returns: int = Field(default=_D.garch_min_returns, ge=1)
    garch_outlier_mads: float = Field(default=_D.garch_outlier_mads, gt=0, allow_inf_nan=False)
    garch_influence_factor: float = Field(default=_D.garch_influence_factor, ge=1, allow_inf_nan=False)

    def record(self) -> EstimatorThresholds:
        """The thresholds as the estimators take them."""
        return EstimatorThresholds(**self.model_dump())


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
    thresholds
        The estimators' thresholds (:class:`Thresholds`), stored as one nested object.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: str
    calendar: str = DEFAULT_CALENDAR
    lookback_days: int = Field(DEFAULT_LOOKBACK_DAYS, ge=1)
    garch_days: int = Field(DEFAULT_GARCH_DAYS, ge=0)
    batch_symbols: int = Field(DEFAULT_BATCH_SYMBOLS, ge=1)
    task_runner: Runner = Runner.threads
    thresholds: Thresholds = Thresholds()

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
        return {**self.model_dump(exclude={"task_runner", "thresholds"}), "thresholds": self.thresholds}
