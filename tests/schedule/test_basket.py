"""The basket optimum (Almgren & Chriss 2000, Appendix A) against the single-name optimum and an independent
dense solve of the same quadratic program."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kappa.errors import ScheduleError
from schedule.almgren_chriss import optimal_schedule
from schedule.basket import Basket, basket_frontier, basket_moments, basket_risk_aversions, optimal_basket
from schedule.records import FloatArray, MarketParams, Order

RHO_PAIR = np.array([[1.0, 0.8], [0.8, 1.0]])


def _basket(**kw: object) -> Basket:
    base: dict[str, object] = dict(
        symbols=("AAA", "BBB", "CCC"), sides=("sell", "buy", "sell"), shares=[1e6, 4e5, 2.5e5],
        horizon_days=5.0, periods=10, sigma_usd=[0.95, 1.6, 0.4], correlation=np.eye(3),
        eta=[2.5e-6, 6e-6, 1.5e-6], gamma=[2.5e-7, 4e-7, 1e-7], epsilon_usd=[0.0625, 0.03, 0.01],
    )  # fmt: skip
    base.update(kw)
    return Basket(**base)  # type: ignore[arg-type]


def _dense(b: Basket, lam: float) -> FloatArray:
    """The minimiser of E + λV by the first-order conditions in x_1..x_{N−1} (m(N−1) unknowns), written
    from E = (1/τ)Σ n_kᵀH̃n_k + const and V = τΣx_kᵀCx_k directly: (D ⊗ H̃/τ + λτ I ⊗ C) x = e_1 ⊗ H̃X/τ,
    D the (N−1)×(N−1) second-difference matrix."""
    n, m, tau = b.periods, b.size, b.tau_days
    ht = b.eta - 0.5 * tau * b.gamma
    cov = np.outer(b.sigma_usd, b.sigma_usd) * b.correlation
    d = 2 * np.eye(n - 1) - np.eye(n - 1, k=1) - np.eye(n - 1, k=-1)
    hess = np.kron(d, ht) / tau + lam * tau * np.kron(np.eye(n - 1), cov)
    x0 = np.where(np.array(b.sides) == "sell", 1.0, -1.0) * b.shares
    rhs = np.zeros((n - 1) * m)
    rhs[:m] = ht @ x0 / tau
    inner = np.linalg.solve(hess, rhs).reshape(n - 1, m).T
    return np.column_stack([x0, inner, np.zeros(m)])


def _dense_e_v(b: Basket, x: FloatArray) -> tuple[float, float]:
    """E and V of signed holdings from the price dynamics: Σ_k x_kᵀΓn_k + Σ ε|n| + Σ n_kᵀHn_k/τ (App. A)."""
    n = x[:, :-1] - x[:, 1:]
    tau = b.tau_days
    cov = np.outer(b.sigma_usd, b.sigma_usd) * b.correlation
    perm = sum(x[:, k + 1] @ b.gamma @ n[:, k] for k in range(b.periods))
    e = perm + float(b.epsilon_usd @ np.abs(n).sum(axis=1)) + sum(n[:, k] @ b.eta @ n[:, k] / tau
                                                                   for k in range(b.periods))  # fmt: skip
    v = tau * sum(x[:, k] @ cov @ x[:, k] for k in range(1, b.periods + 1))
    return float(e), float(v)


@pytest.mark.parametrize("lam", [0.0, 1e-7, 1e-6, 3e-5])
def test_uncorrelated_diagonal_basket_is_each_names_single_name_optimum(lam: float) -> None:
    b = _basket()
    got = optimal_basket(b, lam)
    e = v = 0.0
    for i in range(b.size):
        order = Order(float(b.shares[i]), b.sides[i], b.horizon_days, b.periods)
        params = MarketParams(float(b.sigma_usd[i]), float(b.gamma[i, i]), float(b.eta[i, i]),
                              float(b.epsilon_usd[i]))  # fmt: skip
        s = optimal_schedule(order, params, lam)
        np.testing.assert_allclose(got.holdings[i], s.holdings, rtol=1e-9, atol=1e-9 * b.shares[i])
        np.testing.assert_allclose(got.trades[i], s.trades, rtol=1e-9, atol=1e-9 * b.shares[i])
        k = float(s.kappa_per_day or 0.0)
        assert np.min(np.abs(got.kappa_per_day - k)) <= 1e-12 * k
        e, v = e + s.expected_cost_usd, v + s.variance_usd2
    assert got.expected_cost_usd == pytest.approx(e, rel=1e-9)
    assert got.variance_usd2 == pytest.approx(v, rel=1e-9)
    assert got.notes == ()


def test_a_hedged_pair_trades_more_slowly_than_either_name_alone() -> None:
    pair = dict(symbols=("AAA", "BBB"), shares=[1e6, 1e6], sigma_usd=[0.95, 0.95], eta=[2.5e-6, 2.5e-6],
                gamma=[2.5e-7, 2.5e-7], epsilon_usd=[0.0625, 0.0625], periods=5)  # fmt: skip
    hedged = optimal_basket(_basket(**pair, sides=("buy", "sell"), correlation=RHO_PAIR), 1e-6)
    alone = optimal_basket(_basket(**pair, sides=("buy", "sell"), correlation=np.eye(2)), 1e-6)
    same_way = optimal_basket(_basket(**pair, sides=("sell", "sell"), correlation=RHO_PAIR), 1e-6)
    assert np.all(hedged.holdings[:, 1] > alone.holdings[:, 1] + 1e5)  # 721,627 vs 541,956 shares left
    assert np.all(same_way.holdings[:, 1] < alone.holdings[:, 1])  # the same risk twice: faster
    assert hedged.variance_usd2 < alone.variance_usd2
    # the hedge's modes: μ = σ²(1 ∓ ρ)/η̃, the hedged (difference) mode the slow one
    mu = 0.95**2 * np.array([0.2, 1.8]) / (2.5e-6 - 0.5 * 2.5e-7)
    np.testing.assert_allclose(hedged.mode_mu, mu, rtol=1e-12)


@pytest.mark.parametrize("cross", [False, True])
@pytest.mark.parametrize("lam", [0.0, 2e-7, 5e-6])
def test_the_optimum_is_the_dense_solve_of_the_first_order_conditions(cross: bool, lam: float) -> None:
    rng = np.random.default_rng(11)
    m = 4
    a = rng.normal(size=(m, 40))
    rho = np.corrcoef(a)
    eta = np.diag(rng.uniform(1e-6, 5e-6, m))
    gamma = np.diag(rng.uniform(1e-7, 4e-7, m))
    if cross:
        off = rng.uniform(0.0, 0.3, (m, m))
        off = np.triu(off, 1) + np.triu(off, 1).T
        sq = np.sqrt(np.diag(eta))
        eta = eta + 0.5 * off * np.outer(sq, sq)
        gamma = gamma + 0.2 * off * np.sqrt(np.outer(np.diag(gamma), np.diag(gamma)))
    b = Basket(("A", "B", "C", "D"), ("sell", "buy", "buy", "sell"), rng.uniform(1e5, 1e6, m), 3.0, 7,
               rng.uniform(0.3, 2.0, m), rho, eta, gamma, np.full(m, 0.02))  # fmt: skip
    got = optimal_basket(b, lam)
    want = _dense(b, lam)
    scale = float(np.max(b.shares))
    assert float(np.max(np.abs(got.signed_holdings - want))) < 1e-9 * scale
    e, v = _dense_e_v(b, want)
    assert got.expected_cost_usd == pytest.approx(e, rel=1e-9)
    assert got.variance_usd2 == pytest.approx(v, rel=1e-9)
    cost, var = basket_moments(b, got.signed_holdings)
    assert cost.total_usd == got.expected_cost_usd and var == got.variance_usd2
    if lam == 0:  # TWAP in every name, whatever the correlations and cross impact
        np.testing.assert_allclose(got.holdings, np.outer(b.shares, 1 - np.arange(8) / 7), rtol=1e-12)


def test_lambda_limits_twap_and_everything_in_the_first_period() -> None:
    b = _basket(correlation=np.array([[1, 0.5, -0.2], [0.5, 1, 0.1], [-0.2, 0.1, 1]]))
    twap = np.outer(b.shares, 1 - np.arange(11) / 10)
    np.testing.assert_allclose(optimal_basket(b, 0.0).holdings, twap, rtol=1e-12)
    np.testing.assert_allclose(optimal_basket(b, 1e-16).holdings, twap, rtol=1e-8)
    first = np.zeros((3, 11))
    first[:, 0] = b.shares
    at_inf = optimal_basket(b, math.inf)
    assert np.array_equal(at_inf.holdings, first) and at_inf.variance_usd2 == 0.0
    assert np.all(np.isinf(at_inf.kappa_per_day))
    assert np.max(np.abs(optimal_basket(b, 1e3).holdings[:, 1:])) < 1e-6 * b.shares.max()
    # E at λ = ∞: all at once, ½XᵀΓX + ε|X| + XᵀH̃X/τ
    x0 = b.initial_holdings
    e = 0.5 * x0 @ b.gamma @ x0 + b.epsilon_usd @ b.shares + x0 @ b.eta_tilde @ x0 / b.tau_days
    assert at_inf.expected_cost_usd == pytest.approx(e, rel=1e-12)


def test_a_riskless_hedge_keeps_the_linear_path_at_infinite_risk_aversion() -> None:
    pair = dict(symbols=("AAA", "BBB"), sides=("buy", "sell"), shares=[1e6, 1e6], sigma_usd=[1.0, 1.0],
                eta=[2e-6, 2e-6], gamma=[0.0, 0.0], epsilon_usd=[0.0, 0.0], periods=4)  # fmt: skip
    s = optimal_basket(_basket(**pair, correlation=np.ones((2, 2))), math.inf)
    np.testing.assert_allclose(s.holdings, np.outer([1e6, 1e6], [1, 0.75, 0.5, 0.25, 0]), rtol=1e-12)
    assert s.variance_usd2 == pytest.approx(0.0, abs=1e-3) and any("riskless" in n for n in s.notes)


def test_an_overshooting_hedge_is_noted_and_pays_epsilon_on_every_share() -> None:
    b = _basket(symbols=("AAA", "BBB"), sides=("sell", "buy"), shares=[1e6, 1e4], sigma_usd=[1.0, 1.0],
                correlation=np.array([[1, 0.95], [0.95, 1]]), eta=[2e-6, 2e-6], gamma=[0, 0],
                epsilon_usd=[0.05, 0.05], periods=10)  # fmt: skip
    s = optimal_basket(b, 1e-5)
    assert np.min(s.trades[1]) < 0 and len(s.notes) == 1 and s.notes[0].startswith("BBB: the optimum trades")
    assert s.cost.fixed_usd == pytest.approx(0.05 * np.abs(s.trades).sum(), rel=1e-12)
    assert s.cost.fixed_usd > 0.05 * b.shares.sum()


def test_frontier_grid_and_each_point_minimises_its_own_utility() -> None:
    b = _basket(correlation=np.array([[1, 0.5, -0.2], [0.5, 1, 0.1], [-0.2, 0.1, 1]]))
    lams = basket_risk_aversions(b, points=21, include=1e-6)
    assert lams[0] == 0.0 and 1e-6 in lams and len(lams) == 22
    front = basket_frontier(b, lams)
    kt = [float(np.max(f.kappa_per_day)) * b.horizon_days for f in front[1:] if f.risk_aversion != 1e-6]
    assert kt[0] == pytest.approx(1e-2, rel=1e-9) and kt[-1] == pytest.approx(30.0, rel=1e-9)
    e = np.array([f.expected_cost_usd for f in front])
    v = np.array([f.variance_usd2 for f in front])
    assert np.all(np.diff(e) > 0) and np.all(np.diff(v) < 0)
    for f in front:  # no other point of the frontier is better at this point's λ
        assert f.utility_usd() <= min(g.utility_usd(f.risk_aversion) for g in front) * (1 + 1e-12)
    assert front[5].expected_cost_usd == optimal_basket(b, float(lams[5])).expected_cost_usd


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        (dict(correlation=np.array([[1, 0.5, 0], [0.4, 1, 0], [0, 0, 1]])), "correlation is not symmetric"),
        (dict(correlation=np.array([[1, 0.5, 0], [0.5, 0.9, 0], [0, 0, 1]])), "with itself is 0.9"),
        (dict(correlation=np.array([[1, 1.2, 0], [1.2, 1, 0], [0, 0, 1]])), "> 1"),
        (dict(correlation=np.array([[1, 0.9, 0.9], [0.9, 1, -0.9], [0.9, -0.9, 1]])), "not positive semi"),
        (dict(correlation=np.eye(2)), "correlation has shape (2, 2), expected (3, 3)"),
        (dict(eta=[2.5e-6, 6e-6]), "eta has shape (2,), expected (3,)"),
        (dict(eta=[1e-7, 6e-6, 1.5e-6], gamma=[1e-6, 0, 0]), "H̃ = H − ½τΓ is not positive definite"),
        (dict(eta=np.array([[2e-6, 3e-6, 0], [3e-6, 2e-6, 0], [0, 0, 1e-6]])), "not positive definite"),
        (dict(gamma=np.array([[1e-7, 1e-8, 0], [0, 1e-7, 0], [0, 0, 1e-7]])), "gamma is not symmetric"),
        # a cross γ larger than the names' own: Γ has a direction of negative permanent cost
        (
            dict(gamma=np.array([[2.5e-7, -1e-5, 0], [-1e-5, 2.5e-7, 0], [0, 0, 1e-7]])),
            "Γ is not positive semi",
        ),
        (dict(symbols=("AAA", "BBB", "AAA")), "duplicate symbol(s) in the basket: AAA"),
        (dict(sides=("sell", "hold", "buy")), "'hold' is neither"),
        (dict(shares=[1e6, 0.0, 1.0]), "shares of BBB must be positive"),
        (dict(sigma_usd=[1.0, -1.0, 1.0]), "sigma_usd of BBB must be non-negative"),
        (dict(periods=0), "periods must be a whole number"),
    ],
)
def test_refusals_are_schedule_errors_naming_the_problem(kw: dict[str, object], words: str) -> None:
    with pytest.raises(ScheduleError) as err:
        _basket(**kw)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_a_negative_risk_aversion_is_refused() -> None:
    with pytest.raises(ScheduleError, match="λ must be >= 0"):
        optimal_basket(_basket(), -1e-6)


def test_a_name_that_overshoots_its_target_says_how_far_and_how_much_it_trades() -> None:
    """Sell 1e6 AAA and 1e4 BBB with ρ = 0.95: BBB hedges AAA, selling far past its target and buying back;
    the note gives the shares traded in all and the largest position past the target, from the holdings."""
    b = Basket(("AAA", "BBB"), ("sell", "sell"), [1e6, 1e4], 5.0, 5, [0.95, 0.95], [[1, 0.95], [0.95, 1]],
               [2.5e-6, 2.5e-6], [2.5e-7, 2.5e-7], [0.0625, 0.0625])  # fmt: skip
    s = optimal_basket(b, 1e-5)
    x = s.holdings[1]
    assert x.min() < -10 * 1e4  # far past the target: short more than ten times the order
    (note,) = [n for n in s.notes if n.startswith("BBB:")]
    traded = np.abs(np.diff(x)).sum()
    assert f"{traded:,.0f} shares in all" in note and f"up to {-x.min():,.0f} shares past its target" in note
