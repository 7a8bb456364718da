"""``kappa config``: show or change the home's settings (``KAPPA_HOME/kappa.toml``)."""

from __future__ import annotations

from typing import Annotated

import typer

from data.home import KappaHome
from flows.cli.console import err, out
from flows.cli.options import HomeOption
from kappa.errors import ParameterError


def config_cmd(
    key: Annotated[
        str | None, typer.Argument(help="calendar, timezone or encoding (none: show every setting)")
    ] = None,
    value: Annotated[str | None, typer.Argument(help="The new value (none: show this setting)")] = None,
    unset: Annotated[bool, typer.Option("--unset", help="Remove the setting (back to the default)")] = False,
    home: HomeOption = None,
) -> None:
    """Show or change the home's settings (KAPPA_HOME/kappa.toml): `calendar` (the exchange whose sessions
    the data are dated in), `timezone` (of timestamps written without a UTC offset) and `encoding` (of
    delimited text files, e.g. latin-1; default UTF-8).

    Example: kappa config timezone America/New_York
    """
    from dataclasses import fields

    from data.calendar import check_calendar, check_timezone
    from data.home import HomeConfig
    from data.readers import text_encoding
    from kappa.units import DEFAULT_CALENDAR

    kh = KappaHome.resolve(home)
    known = [f.name for f in fields(HomeConfig)]
    if key is None and (value is not None or unset):
        raise ParameterError(f"name the setting to change ({', '.join(known)})", name="key", value=key)
    if key is not None and key not in known:
        raise ParameterError(f"unknown setting {key!r} (settings: {', '.join(known)})", name="key", value=key)
    if key is not None and (value is not None or unset):
        if value is not None and unset:
            raise ParameterError("give a value or --unset, not both", name="--unset", value=value)
        if value is not None:
            if key == "calendar":
                check_calendar(value)
            elif key == "encoding":
                text_encoding(value)
            elif value != "exchange":
                check_timezone(value)
        before = kh.config().calendar or DEFAULT_CALENDAR
        if key == "calendar" and kh.db_path.exists() and (value or DEFAULT_CALENDAR) != before:
            err.print(f"warning: the home already holds data dated in the sessions of {before}")
        kh.save_config(**{key: value})
    cfg = kh.config()
    defaults = {
        "calendar": DEFAULT_CALENDAR,
        "timezone": "none: offset-free timestamps are quarantined",
        "encoding": "utf-8",
    }
    for name in [key] if key else known:
        v = getattr(cfg, name)
        out.print(
            f"{name} = {v}" if v is not None else f"{name} (unset; default {defaults[name]})", highlight=False
        )
