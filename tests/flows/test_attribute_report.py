"""`kappa attribute` and `kappa report` end to end on simulated days, and the report in a real browser."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from data.home import KappaHome
from data.ingest import ingest
from data.simulator import SimConfig, SymbolParams, write_dataset
from tests.conftest import query, run_kappa

SYMS = (
    SymbolParams("AAA", 50.0, 0.9, 4e-7, 2e-6, 0.02, 600_000, quotes_per_day=2_000, fee_usd_per_share=0.003),
    SymbolParams("BBB", 120.0, 2.5, 1e-6, 5e-6, 0.03, 300_000, quotes_per_day=2_000),
)
START = dt.date(2026, 11, 9)
LAST = dt.date(2026, 11, 13)


@pytest.fixture(scope="module")
def attributed(tmp_path_factory: pytest.TempPathFactory, prefect_api: str) -> KappaHome:
    from flows.nightly import calibrate

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
    n_orders = query(h, f"SELECT count(*) FROM orders WHERE date = DATE '{LAST}'")[0][0]
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
    from flows.nightly import attribute  # the flow `kappa attribute` runs (its CLI is run by the fixture)

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
    filled = query(h, f"SELECT sum(filled_shares) FROM attribution WHERE date = DATE '{LAST}' "
                      "AND arrival_mid_usd IS NOT NULL")[0][0]  # fmt: skip
    assert venues == pytest.approx(filled)
    for view in ("algo", "trader", "symbol", "day"):
        assert query(h, f"SELECT count(*) FROM scorecard_{view}")[0][0] > 0


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


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(_chromium() is None, reason="no Chromium on this machine (Debian: apt install chromium)")
def test_report_renders_in_headless_chromium(attributed: KappaHome, tmp_path: Path) -> None:
    from PIL import Image

    out = tmp_path / "rep"
    assert (
        run_kappa("report", "--date", str(LAST), "--home", str(attributed.root), "--out", str(out)).returncode
        == 0
    )
    shot = tmp_path / "shot.png"
    browser = _chromium()
    assert browser is not None
    res = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1300,2400",
         "--enable-logging=stderr", "--v=0", f"--screenshot={shot}", (out / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert shot.exists(), res.stderr
    console = [ln for ln in res.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not console, console
    img = Image.open(shot).convert("L")
    w = img.size[0]
    # the first row of charts (waterfall, realized vs expected) sits ~200-600 px down: it must not be blank
    band = img.crop((0, 200, w, 600))
    hist = band.histogram()
    dark = sum(hist[:200])  # axis lines, labels, bars
    assert dark > 0.01 * band.width * band.height
    colours = Image.open(shot).convert("RGB").crop((0, 200, w, 600)).getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50  # bars, points and text in several colours, not an empty page
