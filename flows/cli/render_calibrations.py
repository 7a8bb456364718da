"""How ``kappa calibrate`` shows calibrations: units in the headers, each estimate ± its standard error,
where a value came from when it is not its own estimate, and why a row is not ``ok``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from flows.cli.console import out

if TYPE_CHECKING:
    import polars as pl

PM = "±"


def _num(v: object, digits: int = 4) -> str:
    return f"{v:.{digits}g}" if isinstance(v, float) else ("" if v is None else str(v))


def calibration_table(rows: pl.DataFrame) -> Table:
    """One line per symbol: σ (realized, annualised, GARCH), γ, η, ε and β with their errors or sources."""
    t = Table("symbol", "status", "σ ($/sh/√day)", "σ (% ann.)", "σ GARCH ($/sh/√day)", "γ ($/sh per sh)",
              "η ($/sh per sh/day)", "ε ($/sh)", "β", title_justify="left")  # fmt: skip
    for r in rows.sort("symbol").iter_rows(named=True):
        garch = str(r.get("garch_status") or "")
        g = "realized (fallback)" if garch.startswith("fallback") else _num(r.get("sigma_garch_usd"))
        t.add_row(r["symbol"], r["status"], _num(r.get("sigma_usd")), _num(r.get("sigma_pct_ann"), 3), g,
                  _gamma(r), _eta(r), _epsilon(r), _beta(r))  # fmt: skip
    return t


def _gamma(r: dict[str, object]) -> str:
    if r.get("gamma") is None:
        return ""
    text = f"{_num(r.get('gamma'), 3)} {PM} {_num(r.get('gamma_se'), 2)}"
    return text + (f" ({r['gamma_status']})" if r.get("gamma_status") not in (None, "ok") else "")


def _eta(r: dict[str, object]) -> str:
    text = _num(r.get("eta"), 3)
    if r.get("eta_source") == "fills" and r.get("eta_se") is not None:
        return text + f" {PM} {_num(r['eta_se'], 2)}"
    return text + (f" ({r['eta_source']})" if r.get("eta_source") else "")


def _epsilon(r: dict[str, object]) -> str:
    text = _num(r.get("epsilon_usd"), 4)
    if r.get("epsilon_source") and r["epsilon_source"] != "fills":
        return text + f" ({r['epsilon_source']})"
    return text + (f" {PM} {_num(r['epsilon_se_usd'], 2)}" if r.get("epsilon_se_usd") is not None else "")


def _beta(r: dict[str, object]) -> str:
    return f"{_num(r.get('beta'), 3)} {PM} {_num(r.get('beta_se'), 2)}" if r.get("beta") is not None else ""


def print_reasons(rows: pl.DataFrame) -> None:
    """Why each row that is not ``ok`` is not: every fallback, with its cause."""
    import polars as pl

    for r in rows.filter(pl.col("status") != "ok").sort("symbol").iter_rows(named=True):
        out.print(
            f"  {r['symbol']} {r['status']}: {r.get('reason') or 'no reason recorded'}", highlight=False
        )
