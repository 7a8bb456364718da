"""`kappa attribute` and `kappa report` end to end on simulated days, and the report in a real browser."""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from data.calendar import session_time_days
from data.home import KappaHome
from data.ingest import ingest
from simulator import SimConfig, SymbolParams, write_dataset
from tests.conftest import query, run_kappa

SYMS = (
    SymbolParams("AAA", 50.0, 0.9, 4e-7, 2e-6, 0.02, 600_000, quotes_per_day=2_000, fee_usd_per_share=0.003),
    SymbolParams("BBB", 120.0, 2.5, 1e-6, 5e-6, 0.03, 300_000, quotes_per_day=2_000),
)
START = dt.date(2026, 11, 9)
LAST = dt.date(2026, 11, 13)


@pytest.fixture(scope="module")
def attributed(tmp_path_factory: pytest.TempPathFactory, prefect_api: str) -> KappaHome:
    from flows.calibrate import calibrate

    root = tmp_path_factory.mktemp("tca")
    cfg = SimConfig(SYMS, START, 5, orders_per_symbol_day=10, history_days=120, seed=3)
    dates = write_dataset(cfg, root / "inbox")
    home = KappaHome.resolve(root / "home")
    ingest(home, "daily", [root / "inbox" / "daily.csv"])
    for table in ("quotes", "trades", "orders", "fills"):
        ingest(home, table, [root / "inbox" / d.isoformat() / f"{table}.csv" for d in dates])
    calibrate(as_of=dates[-2], home=str(home.root), lookback_days=4)
    res = run_kappa("attribute", "--date", str(LAST), "--home", str(home.root))
    assert res.returncode == 0, res.stderr
    assert "orders" in res.stdout and "z mean" in res.stdout
    return home


def test_attribution_rows_and_rerun(attributed: KappaHome) -> None:
    h = attributed
    # the orders that arrived on LAST, and those that arrived before and were still working into it
    n_orders = query(h, f"SELECT count(*) FROM orders WHERE date = DATE '{LAST}' OR (date < DATE '{LAST}' "
                        f"AND end_ts > TIMESTAMP '{LAST - dt.timedelta(days=1)} 21:00:00')")[0][0]  # fmt: skip
    rows = query(
        h, "SELECT count(*), count(z_score), min(calibration_as_of), count(DISTINCT run_id) FROM attribution"
    )
    assert rows[0][0] == n_orders and rows[0][1] >= 0.9 * n_orders and rows[0][2] == dt.date(2026, 11, 12)
    # the components add up to the total, order by order
    gap = query(h, "SELECT max(abs(delay_usd + spread_usd + impact_usd + opportunity_usd + fees_usd - total_usd)) "
                   "FROM attribution WHERE status = 'ok'")[0][0]  # fmt: skip
    assert gap < 1e-6
    # overfills never reach attribution: the ingest quarantines them
    assert query(h, "SELECT max(fill_rate) FROM attribution")[0][0] <= 1.0
    # fees: the simulator charges 0.003 $/share on AAA and nothing on BBB
    fees = dict(query(h, "SELECT symbol, sum(fees_usd) / sum(filled_shares) FROM attribution GROUP BY ALL"))
    assert fees["AAA"] == pytest.approx(0.003) and fees["BBB"] == 0.0
    before = query(h, "SELECT * EXCLUDE (run_id) FROM attribution ORDER BY order_id")
    from flows.attribute import attribute  # the flow `kappa attribute` runs (its CLI is run by the fixture)

    attribute(date=LAST, home=str(h.root))
    assert query(h, "SELECT * EXCLUDE (run_id) FROM attribution ORDER BY order_id") == before
    # no calibration before the first day: the model's verdict says so rather than guessing
    attribute(date=START, home=str(h.root))
    statuses = query(h, f"SELECT DISTINCT model_status FROM attribution WHERE date = DATE '{START}'")
    assert statuses == [("no_calibration",)]
    weekend = run_kappa("attribute", "--date", "2026-11-14", "--home", str(h.root))
    assert weekend.returncode == 2 and "not a session" in weekend.stderr and "Traceback" not in weekend.stderr


def test_scorecards_weight_by_notional(attributed: KappaHome) -> None:
    h = attributed
    rows = query(h, f"SELECT broker, orders, total_bps, slippage_arrival_bps FROM scorecard_broker "
                    f"WHERE date = DATE '{LAST}' ORDER BY 1")  # fmt: skip
    for broker, n, bps, slip in rows:
        got = query(
            h, f"SELECT total_usd, notional_usd, slippage_arrival_bps FROM attribution WHERE broker = '{broker}' "
               f"AND date = DATE '{LAST}' AND total_usd IS NOT NULL",
        )  # fmt: skip
        assert n == len(got) and bps == pytest.approx(1e4 * sum(r[0] for r in got) / sum(r[1] for r in got))
        sliced = [(r[1], r[2]) for r in got if r[2] is not None]  # orders without fills have no slippage
        assert slip == pytest.approx(sum(w * x for w, x in sliced) / sum(w for w, _ in sliced))
    venues = query(h, f"SELECT sum(shares) FROM scorecard_venue WHERE date = DATE '{LAST}'")[0][0]
    # the shares the attributed orders filled that day (an order over several sessions: that day's only)
    filled = query(h, f"SELECT sum(f.quantity) FROM fills f JOIN attribution a USING (order_id) "
                      f"WHERE a.date = DATE '{LAST}' AND a.arrival_mid_usd IS NOT NULL "
                      f"AND CAST(f.ts AS DATE) = DATE '{LAST}'")[0][0]  # fmt: skip
    assert venues == pytest.approx(filled)


def _costed(h: KappaHome, columns: str, where: str = "") -> np.ndarray:
    """``columns`` of LAST's costed attribution rows (``total_usd`` not null) as a float array, NULL = NaN."""
    rows = query(h, f"SELECT {columns} FROM attribution WHERE date = DATE '{LAST}' AND total_usd IS NOT NULL "
                    f"{where} ORDER BY order_id")  # fmt: skip
    return np.array(rows, dtype=float).reshape(len(rows), -1)


def _view(h: KappaHome, view: str, column: str, where: str = "") -> float:
    (row,) = query(h, f"SELECT {column} FROM scorecard_{view} WHERE date = DATE '{LAST}' {where}")
    return float(row[0])


def test_each_scorecard_view_is_its_attribution_rows_recomputed(attributed: KappaHome) -> None:
    """One number of each view against the attribution rows of one group, recomputed with numpy: the
    notional-weighted cost, the median, the z's spread, a slippage over the orders that have one, and the
    venues' slippage from the fills themselves."""
    h = attributed
    (algo,) = query(h, f"SELECT algo FROM attribution WHERE date = DATE '{LAST}' AND total_usd IS NOT NULL "
                       "GROUP BY algo ORDER BY count(*) DESC, algo LIMIT 1")[0]  # fmt: skip
    usd, notional = _costed(h, "total_usd, notional_usd", f"AND algo = '{algo}'").T
    assert _view(h, "algo", "total_bps", f"AND algo = '{algo}'") == pytest.approx(
        1e4 * usd.sum() / notional.sum()
    )
    assert _view(h, "algo", "total_usd", f"AND algo = '{algo}'") == pytest.approx(usd.sum())

    (trader,) = query(
        h, f"SELECT min(trader) FROM attribution WHERE date = DATE '{LAST}' AND total_usd IS NOT NULL"
    )[0]
    total_bps, z = _costed(h, "total_bps, z_score", f"AND trader = '{trader}'").T
    where = f"AND trader = '{trader}'"
    assert _view(h, "trader", "total_bps_median", where) == pytest.approx(np.median(total_bps))
    assert _view(h, "trader", "z_std", where) == pytest.approx(np.std(z[~np.isnan(z)], ddof=1))

    notional, slip, spread = _costed(
        h, "notional_usd, slippage_interval_vwap_bps, spread_usd", "AND symbol = 'AAA'"
    ).T
    has = ~np.isnan(slip)
    assert _view(h, "symbol", "slippage_interval_vwap_bps", "AND symbol = 'AAA'") == pytest.approx(
        np.average(slip[has], weights=notional[has])
    )
    assert _view(h, "symbol", "spread_bps", "AND symbol = 'AAA'") == pytest.approx(
        1e4 * spread.sum() / notional.sum()
    )

    fees, notional, z = _costed(h, "fees_usd, notional_usd, z_score").T
    assert _view(h, "day", "fees_bps") == pytest.approx(1e4 * fees.sum() / notional.sum())
    assert _view(h, "day", "z_mean") == pytest.approx(np.nanmean(z))
    assert _view(h, "broker", "orders", "AND broker = 'Alpha'") == len(
        _costed(h, "1", "AND broker = 'Alpha'")
    )

    # the venues: each fill of LAST inside its order's attributed window, side · q · (p − arrival mid)
    fills = query(
        h,
        f"""SELECT f.venue, CASE a.side WHEN 'buy' THEN 1 ELSE -1 END, f.quantity, f.price,
                                a.arrival_mid_usd
                         FROM fills f JOIN attribution a USING (order_id)
                         WHERE a.date = DATE '{LAST}' AND a.arrival_mid_usd IS NOT NULL
                           AND f.ts BETWEEN a.arrival_ts AND a.last_fill_ts AND CAST(f.ts AS DATE) = a.date""",
    )
    venue = min(str(f[0]) for f in fills)
    side, q, price, mid = np.array([f[1:] for f in fills if f[0] == venue], dtype=float).T
    assert _view(h, "venue", "slippage_arrival_bps", f"AND venue = '{venue}'") == pytest.approx(
        1e4 * (side * q * (price - mid)).sum() / (q * mid).sum()
    )


def test_report_is_self_contained_with_charts(attributed: KappaHome, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    res = run_kappa("report", "--date", str(LAST), "--home", str(attributed.root), "--out", str(out))
    assert res.returncode == 0, res.stderr
    page = (out / "report.html").read_text()
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|<img[^>]+src=\"?http|url\(https?:", page)
    svgs = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    assert len(svgs) == 4 and all(s.count("<path") + s.count("<rect") > 10 for s in svgs)
    for name in ("waterfall", "cost_vs_model", "z_histogram", "schedules"):
        png = (out / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert "Post-trade attribution" in page and "by broker" in page and "Calibration used" in page
    # the headline total: Σ cost / Σ notional of the day's costed orders, recomputed from attribution
    usd, notional = np.array(query(attributed, f"SELECT total_usd, notional_usd FROM attribution "
                                               f"WHERE date = DATE '{LAST}' AND total_usd IS NOT NULL")).T  # fmt: skip
    (shown,) = re.findall(r"Total cost \(bps\)<b>(\S+) bps</b>", page)
    assert float(shown) == pytest.approx(1e4 * usd.sum() / notional.sum(), abs=0.005)


def test_a_report_chart_is_laid_out_once_for_its_svg_and_its_png(tmp_path: Path) -> None:
    """The page's SVG and the PNG beside it come from one Vega layout, and are what ``vl_convert`` makes of
    the chart's spec on its own: the same SVG text, and the PNG ``vegalite_to_png`` draws, byte for byte."""
    import polars as pl
    import vl_convert as vlc

    from reports.charts import save_chart, svg_and_png, z_histogram_chart

    chart = z_histogram_chart(pl.DataFrame({"z_score": [-1.2, -0.3, 0.1, 0.4, 0.9, 2.2]}))
    svg = svg_and_png(chart, tmp_path / "z.png")
    assert svg == vlc.vegalite_to_svg(chart.to_json())
    assert (tmp_path / "z.png").read_bytes() == vlc.vegalite_to_png(chart.to_json(), scale=2.0)
    assert (tmp_path / "z.png").read_bytes() == save_chart(chart, tmp_path / "again.png").read_bytes()


# ---------------------------------------------------------------------------- an order held over a night

MULTI = "MULTI-BBB-1"
MULTI_ARRIVAL = dt.datetime(2026, 11, 12, 19, 30, tzinfo=dt.UTC)  # 14:30 in New York, 90 min before the close
MULTI_END = dt.datetime(2026, 11, 13, 16, 30, tzinfo=dt.UTC)  # 11:30 the next session
MULTI_FILLS = [
    dt.datetime(2026, 11, 12, 19, 45, tzinfo=dt.UTC), dt.datetime(2026, 11, 12, 20, 15, tzinfo=dt.UTC),
    dt.datetime(2026, 11, 12, 20, 45, tzinfo=dt.UTC), dt.datetime(2026, 11, 13, 14, 45, tzinfo=dt.UTC),
    dt.datetime(2026, 11, 13, 15, 30, tzinfo=dt.UTC), dt.datetime(2026, 11, 13, 16, 15, tzinfo=dt.UTC),
]  # fmt: skip
MULTI_CHILD = 4_000


def _q(home: KappaHome, sql: str) -> list[tuple[Any, ...]]:
    return query(home, sql)


def _write_csv(path: Path, rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


@pytest.fixture(scope="module")
def multi_day(attributed: KappaHome, tmp_path_factory: pytest.TempPathFactory) -> KappaHome:
    """A copy of the simulated home with one more order: a buy of 24,000 BBB that arrives 90 minutes before
    the close of the session before LAST and fills over both sessions, far larger than the simulator's
    orders (so the report plots it); the copy's LAST is attributed again."""
    from flows.attribute import attribute

    root = tmp_path_factory.mktemp("multi")
    home = KappaHome.resolve(root / "home")
    shutil.copytree(attributed.root, home.root)  # its database names the first home's lake files (read only)
    fills: list[list[object]] = [["fill_id", "order_id", "ts", "price", "quantity", "venue", "fee_usd"]]
    for k, ts in enumerate(MULTI_FILLS):
        naive = ts.replace(tzinfo=None)
        ask = _q(home, f"SELECT ask FROM quotes WHERE symbol = 'BBB' AND ts <= TIMESTAMP '{naive}' "
                          "ORDER BY ts DESC LIMIT 1")[0][0]  # fmt: skip
        assert isinstance(ask, float)
        fills.append([f"{MULTI}-{k}", MULTI, ts.isoformat(), round(ask + 0.01, 2), MULTI_CHILD, "XNYS", 0.0])
    orders = _write_csv(root / "orders.csv", [
        ["order_id", "symbol", "side", "quantity", "arrival_ts", "end_ts", "broker", "algo", "trader",
         "risk_aversion"],
        [MULTI, "BBB", "buy", MULTI_CHILD * len(MULTI_FILLS), MULTI_ARRIVAL.isoformat(), MULTI_END.isoformat(),
         "Alpha", "AC", "ana", 1e-6],
    ])  # fmt: skip
    ingest(home, "orders", [orders])
    ingest(home, "fills", [_write_csv(root / "fills.csv", fills)])
    _plan_as_the_nightly_does(home)
    attribute(date=LAST, home=str(home.root))
    got = _q(home, f"SELECT status, model_status, filled_shares FROM attribution WHERE order_id = '{MULTI}'")
    assert got == [("ok", "ok", MULTI_CHILD * len(MULTI_FILLS))]
    return home


def _plan_as_the_nightly_does(home: KappaHome) -> None:
    """Store the multi-day order's schedule in ``schedules`` as a nightly would: from its arrival, in
    5-minute periods of session time, at its λ, with the latest calibration (the one it is judged with)."""
    from flows.schedules import plan_schedule, save_plan
    from kappa.units import BUCKETS_PER_SESSION
    from schedule.requests import ScheduleRequest

    horizon = session_time_days(MULTI_ARRIVAL, MULTI_END)
    req = ScheduleRequest(
        shares=MULTI_CHILD * len(MULTI_FILLS), side="buy", horizon_days=horizon,
        periods=max(1, round(BUCKETS_PER_SESSION * horizon)), risk_aversion=1e-6, symbol="BBB",
        start=MULTI_ARRIVAL, order_id=MULTI,
    )  # fmt: skip
    save_plan(home, plan_schedule(home, req))


PAGE_JS = """() => ({
  tables: [...document.querySelectorAll('table')].map(t => ({
    caption: t.caption ? t.caption.textContent : '',
    head: [...t.tHead.rows[0].cells].map(c => c.textContent),
    body: [...t.tBodies[0].rows].map(r => [...r.cells].map(c => c.textContent)),
    foot: t.tFoot ? [...t.tFoot.rows].map(r => [...r.cells].map(c => c.textContent)) : [],
  })),
  svgs: [...document.querySelectorAll('svg')].map(s => ({
    titles: [...s.querySelectorAll('.role-title-text text, .role-title-subtitle text')].map(t => t.textContent),
    axes: [...s.querySelectorAll('g.role-axis')].map(a => ({
      label: a.getAttribute('aria-label'),
      ticks: [...a.querySelectorAll('.role-axis-label text')].map(t => t.textContent),
    })),
    legend: [...s.querySelectorAll('.role-legend-label text')].map(t => t.textContent),
    points: [...s.querySelectorAll('[aria-roledescription="point"], [aria-roledescription="circle"]')]
      .map(p => p.getAttribute('aria-label')),
    lines: [...s.querySelectorAll('.mark-line path')].map(p => ({
      label: p.getAttribute('aria-label'), stroke: p.getAttribute('stroke'),
    })),
  })),
})"""


@pytest.fixture(scope="module")
def shown(multi_day: KappaHome, browser: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``kappa report`` of LAST with the multi-day order, opened in headless Chromium: the tables' text and
    the charts' axes, legends and marks as the browser rendered them."""
    out = tmp_path_factory.mktemp("multi-report")
    res = run_kappa("report", "--date", str(LAST), "--home", str(multi_day.root), "--out", str(out))
    assert res.returncode == 0, res.stderr
    errors: list[str] = []

    def read(chromium: Any) -> dict[str, Any]:
        page = chromium.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            page.goto((out / "report.html").as_uri())
            return dict(page.evaluate(PAGE_JS))
        finally:
            page.close()

    data: dict[str, Any] = browser.run(read)
    assert not errors, errors
    data["out"] = out
    return data


def _number(text: str) -> float:
    """A printed number ("−1,234.50", "$12", "") as a float (NaN for an empty cell)."""
    t = text.replace(",", "").replace("$", "").replace("\u2212", "-").strip()
    return float(t) if t else math.nan


def _table(shown: dict[str, Any], caption: str) -> tuple[list[str], list[list[str]], list[list[str]]]:
    (t,) = [t for t in shown["tables"] if t["caption"] == caption]
    return t["head"], t["body"], t["foot"]


def _chart(shown: dict[str, Any], title: str) -> dict[str, Any]:
    (s,) = [s for s in shown["svgs"] if any(title in t for t in s["titles"])]
    return s


def _wavg(pairs: list[tuple[Any, Any]]) -> float:
    """Σ w·x / Σ w over the pairs whose x is not null."""
    kept = [(w, x) for w, x in pairs if x is not None]
    return sum(w * x for w, x in kept) / sum(w for w, _ in kept)


def test_costliest_orders_show_usd_and_bps_with_totals(multi_day: KappaHome, shown: dict[str, Any]) -> None:
    head, body, foot = _table(shown, "by total cost ($)")
    col = {h: i for i, h in enumerate(head)}
    for label in ("Order", "Side", "Filled (shares)", "Total cost ($)", "Total (bps)", "Notional ($)"):
        assert label in col, head
    want = _q(multi_day, f"SELECT order_id, side, filled_shares, total_usd, total_bps FROM attribution WHERE "
                            f"date = DATE '{LAST}' AND total_usd IS NOT NULL ORDER BY total_usd DESC")  # fmt: skip
    assert len(body) == min(15, len(want))
    for row, (order_id, side, filled, usd, bps) in zip(body, want, strict=False):
        assert row[col["Order"]] == order_id and row[col["Side"]] == side
        shares = row[col["Filled (shares)"]]
        assert re.fullmatch(r"\d{1,3}(,\d{3})*", shares) and int(shares.replace(",", "")) == round(filled)
        assert _number(row[col["Total cost ($)"]]) == pytest.approx(usd, abs=0.006)
        assert _number(row[col["Total (bps)"]]) == pytest.approx(bps, abs=0.006)
    # totals in $: the orders shown, then every costed order of the day
    notional = _q(multi_day, f"SELECT sum(notional_usd) FROM attribution WHERE date = DATE '{LAST}' "
                                "AND total_usd IS NOT NULL")[0][0]  # fmt: skip
    assert isinstance(notional, float)
    shown_rows, all_rows = foot
    assert shown_rows[col["Order"]] == f"These {len(body)} orders"
    assert _number(shown_rows[col["Total cost ($)"]]) == pytest.approx(
        sum(w[3] for w in want[:15]), abs=0.006
    )
    assert all_rows[col["Order"]] == f"All {len(want)} costed orders"
    assert _number(all_rows[col["Total cost ($)"]]) == pytest.approx(sum(w[3] for w in want), abs=0.006)
    assert _number(all_rows[col["Total (bps)"]]) == pytest.approx(
        1e4 * sum(w[3] for w in want) / notional, abs=0.006
    )
    # every table speaks in labels, not column names (and no `len` of a group-by)
    for t in shown["tables"]:
        assert all(not re.fullmatch(r"[a-z0-9_]+", h) for h in t["head"]), t["head"]
    st_head, st_body, _ = _table(shown, "orders by status")
    assert st_head == ["Status", "Model status", "Orders"]
    n = _q(multi_day, f"SELECT count(*) FROM attribution WHERE date = DATE '{LAST}'")[0][0]
    assert sum(int(r[2].replace(",", "")) for r in st_body) == n


@pytest.mark.parametrize(("by", "label"), [("broker", "Broker"), ("algo", "Algo")])
def test_scorecards_show_slippage_to_arrival_and_interval_vwap(
    multi_day: KappaHome, shown: dict[str, Any], by: str, label: str
) -> None:
    head, body, _ = _table(shown, f"by {by}")
    col = {h: i for i, h in enumerate(head)}
    names = [r[0] for r in _q(multi_day, f"SELECT DISTINCT {by} FROM attribution WHERE date = DATE '{LAST}' "
                                            "AND total_usd IS NOT NULL ORDER BY 1")]  # fmt: skip
    assert head[0] == label and [r[0] for r in body] == names
    for row in body:
        got = _q(multi_day, f"SELECT notional_usd, slippage_arrival_bps, slippage_interval_vwap_bps, total_usd "
                               f"FROM attribution WHERE date = DATE '{LAST}' AND total_usd IS NOT NULL "
                               f"AND {by} = '{row[0]}'")  # fmt: skip
        assert _number(row[col["Orders"]]) == len(got)
        arrival = _wavg([(g[0], g[1]) for g in got])
        ivwap = _wavg([(g[0], g[2]) for g in got])
        assert _number(row[col["Slippage to arrival (bps)"]]) == pytest.approx(arrival, abs=0.006)
        assert _number(row[col["Slippage to interval VWAP (bps)"]]) == pytest.approx(ivwap, abs=0.006)
        assert _number(row[col["Total cost ($)"]]) == pytest.approx(sum(g[3] for g in got), abs=0.006)
        total_bps = 1e4 * sum(g[3] for g in got) / sum(g[0] for g in got)
        assert _number(row[col["Total (bps)"]]) == pytest.approx(total_bps, abs=0.006)


def _domain(axis_label: str) -> tuple[float, float]:
    """The scale's domain an axis announces ("... for a linear scale with values from −352 to 435"), widened by
    half a unit of the last digit printed (the ends are rounded to the axis format)."""
    m = re.search(r"values from (\S+) to (\S+)$", axis_label)
    assert m, axis_label
    lo, hi = m.group(1), m.group(2)
    half = 0.5 * 10.0 ** -max(len(t.partition(".")[2]) for t in (lo, hi))
    return _number(lo) - half, _number(hi) + half


def _axis(chart: dict[str, Any], which: str) -> list[dict[str, Any]]:
    return [a for a in chart["axes"] if (a["label"] or "").startswith(f"{which}-axis")]


def test_realized_vs_expected_axes_fit_their_own_data(multi_day: KappaHome, shown: dict[str, Any]) -> None:
    chart = _chart(shown, "realized vs expected cost")
    rows = _q(multi_day, f"SELECT 1e4 * model_expected_cost_usd / notional_usd, "
                            f"1e4 * realized_cost_usd / notional_usd, 2e4 * model_std_usd / notional_usd "
                            f"FROM attribution WHERE date = DATE '{LAST}' AND z_score IS NOT NULL")  # fmt: skip
    e = [float(r[0]) for r in rows]
    c = [float(r[1]) for r in rows]
    band = [(float(r[0]) - float(r[2]), float(r[0]) + float(r[2])) for r in rows]
    (x_axis,) = _axis(chart, "X")
    (y_axis,) = _axis(chart, "Y")
    x_lo, x_hi = _domain(x_axis["label"])
    y_lo, y_hi = _domain(y_axis["label"])
    # x spans E (not C, which spreads far wider): every point inside, the range at most E's range + margins
    assert x_lo <= min(e) and x_hi >= max(e) and x_hi - x_lo <= 1.2 * (max(e) - min(e))
    assert y_lo <= min(min(c), *(lo for lo, _ in band)) and y_hi >= max(max(c), *(hi for _, hi in band))
    assert y_hi - y_lo <= 1.2 * (max(max(c), *(h for _, h in band)) - min(min(c), *(lo for lo, _ in band)))
    ticks = sorted({_number(t) for t in x_axis["ticks"]})
    assert len(ticks) >= 3 and all(x_lo <= t <= x_hi for t in ticks)
    assert len(chart["points"]) == len(rows)


def test_schedule_chart_has_a_legend_and_trading_time(multi_day: KappaHome, shown: dict[str, Any]) -> None:
    chart = _chart(shown, "Almgren-Chriss schedule")
    assert sorted(chart["legend"]) == ["Almgren-Chriss schedule", "actual fills"]
    x_titles = {a["label"].split("'")[1] for a in _axis(chart, "X")}
    assert x_titles == {"trading hours since arrival"}
    # the multi-day order: its last fill at the session time since arrival (1.5 h on the first day, 1.75 h
    # on the next), not at the 20.75 wall-clock hours between them; its schedule ends at the window's 3.5 h
    hours: dict[str, list[float]] = {"actual fills": [], "Almgren-Chriss schedule": []}
    for label in chart["points"]:
        fields = dict(part.split(": ", 1) for part in label.split("; "))
        if fields["order"] == MULTI:
            hours[fields["series"]].append(_number(fields["trading hours"]))
    last_fill = 6.5 * session_time_days(MULTI_ARRIVAL, MULTI_FILLS[-1])
    assert last_fill == pytest.approx(3.25)
    assert max(hours["actual fills"]) == pytest.approx(last_fill, abs=1e-3)
    assert len(hours["actual fills"]) == len(MULTI_FILLS) + 1  # arrival, then each fill
    assert max(hours["Almgren-Chriss schedule"]) == pytest.approx(
        6.5 * session_time_days(MULTI_ARRIVAL, MULTI_END), abs=1e-3
    )
    # one colour per series in every panel
    strokes: dict[str, set[str]] = {}
    for line in chart["lines"]:
        series = "actual fills" if "actual fills" in (line["label"] or "") else "Almgren-Chriss schedule"
        strokes.setdefault(series, set()).add(line["stroke"])
    assert all(len(v) == 1 for v in strokes.values()) and len(set().union(*strokes.values())) == 2


def test_report_markdown_carries_the_numbers(multi_day: KappaHome, tmp_path: Path) -> None:
    import polars as pl

    from data.queries import read_attribution_day
    from reports.tca_report import report_markdown

    day = read_attribution_day(multi_day, LAST)
    rows = day.rows
    path = tmp_path / "report.html"
    md = report_markdown(LAST, rows, path, scorecards=day.scorecards)
    assert f"`{path}`" in md and "file://" not in md
    section = md.split("## Costliest orders")[1].split("\n\n")[1].splitlines()
    head = [h.strip() for h in section[0].strip("|").split("|")]
    col = {h: i for i, h in enumerate(head)}
    top = rows.filter(pl.col("total_usd").is_not_null()).sort("total_usd", descending=True).head(10)
    for line, want in zip(section[2:], top.iter_rows(named=True), strict=False):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[col["Order"]] == want["order_id"]
        assert _number(cells[col["Total cost ($)"]]) == pytest.approx(want["total_usd"], abs=0.006)
        assert _number(cells[col["Total (bps)"]]) == pytest.approx(want["total_bps"], abs=0.006)
    total = section[-1]
    assert "All" in total and f"{rows['total_usd'].sum():,.2f}" in total
    for by in ("broker", "algo"):
        assert f"## Scorecard by {by}" in md
    assert "Slippage to arrival (bps)" in md and "Slippage to interval VWAP (bps)" in md


def test_the_report_artifact_is_markdown_in_prefect(multi_day: KappaHome, tmp_path: Path) -> None:
    import polars as pl
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    from data.queries import read_attribution_day
    from flows.artifacts import publish_artifacts
    from flows.nightly import NightlyResult

    day = read_attribution_day(multi_day, LAST)
    rows = day.rows
    path = tmp_path / "report.html"

    @flow(name="publish the night's artifacts")
    def publish() -> str:
        from prefect.runtime import flow_run

        result = NightlyResult(date=LAST, run_id="r", report=str(path))
        publish_artifacts(result, pl.DataFrame(), rows, day.scorecards)
        return str(flow_run.id)

    run_id = publish()
    with get_client(sync_client=True) as client:
        (art,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["tca-report"]), flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])
            )
        )
    md = str(art.data)
    assert art.type == "markdown" and "file://" not in md and f"`{path}`" in md
    top = rows.sort("total_usd", descending=True, nulls_last=True).row(0, named=True)
    (line,) = [ln for ln in md.splitlines() if ln.startswith(f"| {top['order_id']} |")]
    assert f"| {top['total_usd']:,.2f} | {top['total_bps']:,.2f} |" in line


def test_report_renders_in_headless_chromium(attributed: KappaHome, browser: Any, tmp_path: Path) -> None:
    from PIL import Image

    out = tmp_path / "rep"
    res = run_kappa("report", "--date", str(LAST), "--home", str(attributed.root), "--out", str(out))
    assert res.returncode == 0, res.stderr
    shot = tmp_path / "shot.png"
    errors: list[str] = []
    requests: list[str] = []

    def screenshot(chromium: Any) -> None:
        page = chromium.new_page(viewport={"width": 1300, "height": 2400})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        try:
            page.goto((out / "report.html").as_uri())
            page.screenshot(path=str(shot))
        finally:
            page.close()

    browser.run(screenshot)
    assert not errors, errors
    assert all(u.startswith("file://") for u in requests), requests  # nothing from the network
    img = Image.open(shot).convert("L")
    w = img.size[0]
    # the first row of charts (waterfall, realized vs expected) sits ~300-700 px down: it must not be blank
    band = img.crop((0, 300, w, 700))
    hist = band.histogram()
    dark = sum(hist[:200])  # axis lines, labels, bars
    assert dark > 0.01 * band.width * band.height
    colours = Image.open(shot).convert("RGB").crop((0, 300, w, 700)).getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50  # bars, points and text in several colours, not an empty page


def test_dollars_and_bps_print_with_the_sign_first_and_no_negative_zero() -> None:
    from reports.tables import cell_text, usd_text

    assert [usd_text(v) for v in (1234.5, -235.454, -0.004, 0.0)] == [
        "$1,234.50",
        "-$235.45",
        "$0.00",
        "$0.00",
    ]
    assert usd_text(-18_288_857.4, 0) == "-$18,288,857"
    assert [cell_text(v, "bps") for v in (-0.004, -1.005e4, 2.5)] == ["0.00", "-10,050.00", "2.50"]


def test_a_multi_session_order_is_working_then_attributed_once(multi_day: KappaHome) -> None:
    from flows.attribute import attribute
    from flows.schedules import order_schedules

    before = LAST - dt.timedelta(days=1)
    attribute(date=before, home=str(multi_day.root))
    cols = "date, status, filled_shares, total_usd, opportunity_usd, executed_cost_usd, interim_mtm_usd, horizon_days"
    rows = _q(multi_day, f"SELECT {cols} FROM attribution WHERE order_id = '{MULTI}' ORDER BY date")
    assert [(r[0], r[1], r[2]) for r in rows] == [(before, "working", 3 * MULTI_CHILD),
                                                  (LAST, "ok", 6 * MULTI_CHILD)]  # fmt: skip
    (day1, day2) = rows
    # the first evening: no opportunity cost and no total; the 12,000 open shares marked at the closing mid
    close_mid, arrival_mid = _q(multi_day, f"SELECT close_mid_usd, arrival_mid_usd FROM attribution "
                                           f"WHERE order_id = '{MULTI}' AND date = DATE '{before}'")[0]  # fmt: skip
    assert day1[3] is None and day1[4] is None
    assert day1[6] == pytest.approx(
        3 * MULTI_CHILD * (close_mid - arrival_mid)
    )  # no decision price: P_d = M_a
    assert day2[3] == pytest.approx(day2[5]) and day2[4] == 0.0  # filled in full: total = executed
    # its horizon: 14:30-16:00 and 09:30-11:30 New York, 3.5 of 6.5 session hours, in both tables
    horizon = 3.5 / 6.5
    assert day1[7] == pytest.approx(horizon, abs=1e-12) and day2[7] == pytest.approx(horizon, abs=1e-12)
    orders = pl_frame(multi_day, f"SELECT order_id, symbol, side, quantity, arrival_ts, end_ts, risk_aversion "
                                 f"FROM orders WHERE order_id = '{MULTI}'")  # fmt: skip
    cal = pl_frame(multi_day, f"SELECT * FROM calibrations WHERE as_of = DATE '{before}'")
    planned = order_schedules(orders, cal, "r").rows
    assert planned["horizon_days"].unique().to_list() == [pytest.approx(horizon, abs=1e-12)]
    # a scorecard over both days counts the order once, on the day it completed
    n = _q(multi_day, f"SELECT sum(orders) FROM scorecard_trader WHERE date BETWEEN DATE '{before}' AND "
                      f"DATE '{LAST}' AND trader = 'ana'")[0][0]  # fmt: skip
    ana = _q(multi_day, f"SELECT count(DISTINCT order_id) FROM attribution WHERE trader = 'ana' AND "
                        f"date BETWEEN DATE '{before}' AND DATE '{LAST}' AND status <> 'working' "
                        "AND total_usd IS NOT NULL")[0][0]  # fmt: skip
    assert n == ana and _q(multi_day, f"SELECT count(*) FROM attribution WHERE order_id = '{MULTI}' "
                                      "AND total_usd IS NOT NULL")[0][0] == 1  # fmt: skip
    # the rerun of the first evening, after the second is in, gives the same rows
    again = f"SELECT * EXCLUDE (run_id) FROM attribution WHERE date = DATE '{before}' ORDER BY order_id"
    first = _q(multi_day, again)
    attribute(date=before, home=str(multi_day.root))
    assert _q(multi_day, again) == first


def pl_frame(home: KappaHome, sql: str) -> Any:
    from data.store import reader

    with reader(home) as con:
        return con.sql(sql).pl()


def test_the_report_shows_the_multi_session_order_against_its_schedule(
    multi_day: KappaHome, shown: dict[str, Any]
) -> None:
    """The order planned from its arrival and filled over two sessions: its row in the tracking table is
    the stored one, and its chart draws F(t) up to 24,000 and the schedule's executed shares X − x_k."""
    head, body, foot = _table(shown, "tracking error by order (largest by notional)")
    col = {h: i for i, h in enumerate(head)}
    (row,) = [r for r in body if r[col["Order"]] == MULTI]
    want = _q(multi_day, f"SELECT filled_shares, scheduled_filled_shares, ahead_of_schedule_shares, "
                         f"tracking_error_shares, tracking_error_pct, schedule_id FROM attribution "
                         f"WHERE order_id = '{MULTI}' AND date = DATE '{LAST}'")[0]  # fmt: skip
    assert want[5] is not None and all(v is not None for v in want[:5])
    assert _number(row[col["Filled (shares)"]]) == want[0] == 6 * MULTI_CHILD
    assert _number(row[col["Scheduled by then (shares)"]]) == round(float(want[1]))  # type: ignore[arg-type]
    assert _number(row[col["Ahead + / behind − (shares)"]]) == round(float(want[2]))  # type: ignore[arg-type]
    assert _number(row[col["Tracking error (% of order)"]]) == pytest.approx(want[4], abs=0.006)
    (all_row,) = foot
    n = _q(multi_day, f"SELECT count(*) FROM attribution WHERE date = DATE '{LAST}' "
                      "AND scheduled_filled_shares IS NOT NULL")[0][0]  # fmt: skip
    assert all_row[col["Order"]] == f"All {n} tracked orders (sums; % = Σ tracking error / Σ quantity)"
    # complete at its last fill (Friday 16:15 UTC, 15 minutes before its end): the schedule then is
    # X − x(t) linear between the period ends around it; filled − scheduled is ahead of it
    plan = _q(multi_day, f"SELECT ts, shares - holdings_shares FROM schedules WHERE schedule_id = '{want[5]}' "
                         "ORDER BY period")  # fmt: skip
    last = MULTI_FILLS[-1].replace(tzinfo=None)
    (before,) = [p for p in plan if p[0] == last]  # the fills land on 5-minute period ends exactly
    assert want[1] == pytest.approx(before[1]) and want[2] == pytest.approx(6 * MULTI_CHILD - before[1])
    chart = _chart(shown, "Almgren-Chriss schedule")
    shares: dict[str, list[float]] = {"actual fills": [], "Almgren-Chriss schedule": []}
    for label in chart["points"]:
        fields = dict(part.split(": ", 1) for part in label.split("; "))
        if fields["order"] == MULTI:
            shares[fields["series"]].append(_number(fields["shares filled"]))
    assert sorted(shares["actual fills"]) == [k * MULTI_CHILD for k in range(len(MULTI_FILLS) + 1)]
    assert (
        min(shares["Almgren-Chriss schedule"]) == 0
        and max(shares["Almgren-Chriss schedule"]) == 6 * MULTI_CHILD
    )
