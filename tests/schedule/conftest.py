"""The Almgren & Chriss (2000) example and brute-force references independent of the closed forms."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from schedule import MarketParams, Order
from schedule.records import FloatArray
from tests.golden import golden

# Almgren & Chriss (2000), §3.4 example (tests/resources/almgren_chriss_2000_example.toml): X = 10⁶ shares,
# S0 = 50, T = 5 days, N = 5, σ = 0.95 $/share/√day (30 %/year at $50), ε = 0.0625 (1/8 spread), η = 2.5e-6,
# γ = 2.5e-7.
PAPER = golden("almgren_chriss_2000_example.toml")
PAPER_ORDER = Order(
    shares=float(PAPER["inputs"]["shares"]),
    side=PAPER["inputs"]["side"],
    horizon_days=PAPER["inputs"]["horizon_days"],
    periods=PAPER["inputs"]["periods"],
)
PAPER_PARAMS = MarketParams(
    sigma_usd=PAPER["inputs"]["sigma_usd"],
    gamma=PAPER["inputs"]["gamma"],
    eta=PAPER["inputs"]["eta"],
    epsilon_usd=PAPER["inputs"]["epsilon_usd"],
)


def brute_force_utility(x: FloatArray, order: Order, params: MarketParams, lam: float) -> float:
    """E + λV written out term by term from the price dynamics (eqs. 1–9), not from :mod:`schedule.costs`."""
    tau = order.tau_days
    n = x[:-1] - x[1:]
    mu = (1.0 if order.side == "buy" else -1.0) * order.drift_usd_per_day
    perm = sum(params.gamma * n[k] * x[k + 1] for k in range(len(n)))  # γ Σ n_k x_k (eq. 8)
    temp = sum(n[k] * (params.epsilon_usd * np.sign(n[k]) + params.eta * n[k] / tau) for k in range(len(n)))
    drift = mu * tau * float(np.sum(x[1:]))
    e = perm + temp + drift
    v = params.sigma_usd**2 * tau * float(np.sum(x[1:] ** 2))
    return e + lam * v


def first_order_holdings(order: Order, params: MarketParams, lam: float) -> FloatArray:
    """The minimiser of E + λV from its first-order conditions, solved as a dense linear system.

    ∂/∂x_j: (η̃/τ)·2·(2x_j − x_{j−1} − x_{j+1}) + 2λσ²τ·x_j + μτ = 0 for j = 1..N−1, x_0 = X, x_N = 0.
    """
    n, tau, x0 = order.periods, order.tau_days, order.shares
    et = params.eta - 0.5 * params.gamma * tau
    mu = (1.0 if order.side == "buy" else -1.0) * order.drift_usd_per_day
    m = n - 1
    if m == 0:
        return np.array([x0, 0.0])
    a = np.zeros((m, m))
    b = np.full(m, -mu * tau)
    c = 2 * et / tau
    for j in range(m):
        a[j, j] = 2 * c + 2 * lam * params.sigma_usd**2 * tau
        if j > 0:
            a[j, j - 1] = -c
        if j < m - 1:
            a[j, j + 1] = -c
    b[0] += c * x0
    inner = np.linalg.solve(a, b)
    return np.concatenate(([x0], inner, [0.0]))


def numerical_minimum(order: Order, params: MarketParams, lam: float) -> tuple[FloatArray, float]:
    """A direct numerical minimisation of the brute-force E + λV (BFGS from TWAP)."""
    x0 = order.shares

    def f(y: FloatArray) -> float:
        x = np.concatenate(([x0], y * x0, [0.0]))
        return brute_force_utility(x, order, params, lam) / x0

    start = np.linspace(1.0, 0.0, order.periods + 1)[1:-1]
    res = minimize(f, start, method="BFGS", options={"gtol": 1e-10, "maxiter": 10_000})
    x = np.concatenate(([x0], res.x * x0, [0.0]))
    return x, brute_force_utility(x, order, params, lam)
