"""Own orders trade on the Almgren-Chriss optimum: the holdings of eq. 18 in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kappa.units import SESSION_SECONDS
from simulator import SymbolParams
from simulator.orders import ac_plan

P = SymbolParams("AAA", 50.0, 0.9, 4e-7, 2e-6, 0.02, 600_000)


@pytest.mark.parametrize(("kappa_t", "n_child"), [(0.5, 6), (2.0, 12), (4.0, 20)])
def test_holdings_are_the_sinh_trajectory_of_eq_18(kappa_t: float, n_child: int) -> None:
    """x_j = X·sinh(κ(T − t_j))/sinh(κT), t_j = jT/N (Almgren & Chriss 2000, eq. 18), with κT as drawn."""
    qty, horizon_s = 12_000.0, 0.4 * SESSION_SECONDS
    lam, holdings = ac_plan(P, -1, qty, horizon_s, n_child, kappa_t)
    j = np.arange(n_child + 1)
    expected = qty * np.sinh(kappa_t * (1 - j / n_child)) / math.sinh(kappa_t)
    assert lam > 0
    np.testing.assert_allclose(holdings, expected, rtol=1e-9, atol=1e-9 * qty)


def test_kappa_zero_is_twap_with_no_risk_aversion() -> None:
    lam, holdings = ac_plan(P, 1, 9_000.0, 3_600.0, 9, 0.0)
    assert lam == 0.0
    np.testing.assert_allclose(holdings, 9_000.0 - 1_000.0 * np.arange(10))
