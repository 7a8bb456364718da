"""Property: costs are sign-symmetric (DESIGN §3: positive = cost, for buys and sells alike). Mirroring an
order, buy <-> sell with the price path reflected about the reference price (so an expected drift α becomes
−α and every price p becomes 2R − p), leaves every cost component identical: the schedule's optimum and its
E, V and parts (:func:`schedule.optimal_schedule`, :func:`schedule.expected_cost` of any path, linear or
power-law impact), and Perold's shortfall with its interim marks (:mod:`tca.shortfall`)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schedule import MarketParams, Order, PowerLaw, expected_cost, optimal_schedule, variance_usd2
from tca.shortfall import COMPONENTS, implementation_shortfall, interim_marks

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True)
COST_PARTS = ("permanent_usd", "fixed_usd", "temporary_usd", "drift_usd")


def _mirror(side: str) -> str:
    return "sell" if side == "buy" else "buy"


@st.composite
def orders_and_params(draw: st.DrawFn) -> tuple[Order, MarketParams, float]:
    """An order, its market (η̃ = η − γτ/2 > 0, as the discrete solution needs) and a risk aversion λ."""
    periods = draw(st.integers(1, 80))
    horizon = draw(st.floats(0.05, 10.0))
    eta = draw(st.floats(1e-8, 1e-4))
    gamma = draw(st.floats(0.0, 1.0)) * eta / (horizon / periods)  # γτ/2 ≤ η/2
    params = MarketParams(
        sigma_usd=draw(st.floats(0.01, 5.0)), gamma=gamma, eta=eta, epsilon_usd=draw(st.floats(0.0, 0.1))
    )
    order = Order(
        shares=draw(st.floats(1e3, 1e7)), side=draw(st.sampled_from(["buy", "sell"])), horizon_days=horizon,
        periods=periods, drift_usd_per_day=draw(st.floats(-0.2, 0.2)),
    )  # fmt: skip
    lam = draw(st.sampled_from([0.0, 1e-9, 1e-7, 1e-6, 1e-5]))
    return order, params, lam


def _mirrored(order: Order) -> Order:
    return Order(
        order.shares, _mirror(order.side), order.horizon_days, order.periods, -order.drift_usd_per_day
    )


@SETTINGS
@given(case=orders_and_params())
def test_the_optimal_schedule_of_the_mirrored_order_costs_the_same(
    case: tuple[Order, MarketParams, float],
) -> None:
    order, params, lam = case
    a, b = optimal_schedule(order, params, lam), optimal_schedule(_mirrored(order), params, lam)
    np.testing.assert_allclose(b.holdings, a.holdings, rtol=1e-12, atol=1e-9 * order.shares)
    np.testing.assert_allclose(b.trades, a.trades, rtol=1e-12, atol=1e-9 * order.shares)
    scale = abs(a.expected_cost_usd) + 1.0
    for part in COST_PARTS:
        assert getattr(b.cost, part) == pytest.approx(getattr(a.cost, part), rel=1e-12, abs=1e-12 * scale), (
            part
        )
    assert b.expected_cost_usd == pytest.approx(a.expected_cost_usd, rel=1e-12, abs=1e-12 * scale)
    assert b.variance_usd2 == pytest.approx(a.variance_usd2, rel=1e-12)
    assert b.kappa_per_day == a.kappa_per_day


@SETTINGS
@given(
    case=orders_and_params(),
    path=st.lists(st.floats(-0.5, 1.5), min_size=1, max_size=40),
    power=st.one_of(st.none(), st.tuples(st.floats(0.05, 2.0), st.floats(0.3, 1.5), st.floats(1e5, 1e8))),
)
def test_any_paths_costs_are_the_same_for_the_mirrored_order(
    case: tuple[Order, MarketParams, float], path: list[float], power: tuple[float, float, float] | None
) -> None:
    """E's parts and V of an arbitrary path (overshooting, turning back) under linear or power-law impact."""
    order, params, _ = case
    order = Order(order.shares, order.side, order.horizon_days, len(path) + 1, order.drift_usd_per_day)
    if power is not None:
        params = MarketParams(
            params.sigma_usd, params.gamma, params.eta, params.epsilon_usd, PowerLaw(*power)
        )
    x = order.shares * np.array([1.0, *path, 0.0])
    a = expected_cost(x, order, params, power is not None)
    b = expected_cost(x, _mirrored(order), params, power is not None)
    scale = sum(abs(getattr(a, p)) for p in COST_PARTS) + 1.0
    for part in COST_PARTS:
        assert getattr(b, part) == pytest.approx(getattr(a, part), rel=1e-12, abs=1e-12 * scale), part
    assert variance_usd2(x, _mirrored(order), params) == pytest.approx(
        variance_usd2(x, order, params), rel=1e-12
    )


@st.composite
def attributed_orders(draw: st.DrawFn) -> dict[str, object]:
    """One order as :func:`tca.shortfall.implementation_shortfall` takes it; prices within 5 % of its reference."""
    reference = draw(st.floats(1.0, 1000.0))
    quantity = draw(st.floats(1.0, 1e6))
    filled = quantity * draw(st.sampled_from([0.0, 0.3, 1.0]) | st.floats(0.0, 1.0))
    has_decision = draw(st.booleans())

    def near() -> float:
        return reference * (1 + draw(st.floats(-0.05, 0.05)))

    arrival = near() if has_decision else reference
    return {
        "side": draw(st.sampled_from(["buy", "sell"])), "quantity": quantity, "filled_shares": filled,
        "fill_vwap_usd": near() if filled > 0 else None, "decision_price": reference if has_decision else None,
        "arrival_mid_usd": arrival, "end_mid_usd": near(), "close_mid_usd": near(),
        "fees_usd": draw(st.floats(0.0, 100.0)), "spread_paid_usd": filled * reference * draw(st.floats(0, 1e-3)),
        "working": draw(st.booleans()) and filled < quantity,
    }  # fmt: skip


def _reflected(order: dict[str, object]) -> dict[str, object]:
    """Buy <-> sell, every price p -> 2R − p about the reference R (the decision price, else the arrival mid)."""
    ref = order["decision_price"] if order["decision_price"] is not None else order["arrival_mid_usd"]
    assert isinstance(ref, float)
    prices = ("fill_vwap_usd", "decision_price", "arrival_mid_usd", "end_mid_usd", "close_mid_usd")
    out = {k: (2 * ref - v if k in prices and isinstance(v, float) else v) for k, v in order.items()}
    return {**out, "side": _mirror(str(order["side"]))}


SHORTFALL_SCHEMA = {
    "side": pl.String, "quantity": pl.Float64, "filled_shares": pl.Float64, "fill_vwap_usd": pl.Float64,
    "decision_price": pl.Float64, "arrival_mid_usd": pl.Float64, "end_mid_usd": pl.Float64,
    "close_mid_usd": pl.Float64, "fees_usd": pl.Float64, "spread_paid_usd": pl.Float64, "working": pl.Boolean,
}  # fmt: skip


@SETTINGS
@given(order=attributed_orders())
def test_the_shortfall_of_the_mirrored_order_is_the_same(order: dict[str, object]) -> None:
    frame = pl.DataFrame([order, _reflected(order)], schema=SHORTFALL_SCHEMA, orient="row")
    out = interim_marks(implementation_shortfall(frame), pl.col("working"))
    a, b = out.row(0, named=True), out.row(1, named=True)
    notional = a["notional_usd"]
    assert b["notional_usd"] == pytest.approx(notional, rel=1e-12)
    names = [*COMPONENTS, "executed_cost", "interim_mtm"]
    for name in names:
        usd, bps = f"{name}_usd", f"{name}_bps"
        if a[usd] is None:
            assert b[usd] is None and b[bps] is None, name
            continue
        assert b[usd] == pytest.approx(a[usd], abs=1e-9 * notional), usd  # 2R − p rounds p's last bit
        assert b[bps] == pytest.approx(a[bps], abs=1e-5), bps
