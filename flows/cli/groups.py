"""The class of ``kappa``'s command groups: typer's, with a ``--help`` flag that costs nothing when absent.

typer (0.29) coerces each parameter's value through a pydantic ``TypeAdapter`` built on first use. A
group's ``--help`` is processed on every command line that passes through the group, and when the flag is
absent its value is ``None``, not ``False``: typer then builds the adapter (importing pydantic, about
0.3 s of CPU) only to return ``None``. So ``kappa schedule --help`` paid for pydantic, nothing else did,
and took half as long again as ``kappa --help``. Here an absent flag reads ``False``, a ``bool``, which
typer passes through as it is; the help shown and every other value are typer's.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperGroup, TyperOption


class _HelpFlag(TyperOption):
    """typer's ``--help`` option, whose absent value is ``False`` (no adapter built for it)."""

    def process_value(self, ctx: Any, value: Any) -> Any:
        return super().process_value(ctx, False if value is None else value)


class KappaGroup(TyperGroup):
    """A command group whose own ``--help`` is a :class:`_HelpFlag` (``typer.Typer(cls=KappaGroup)``), and
    so are those of the groups under it (``app.add_typer(group, name=...)``, whatever their class)."""

    def get_help_option(self, ctx: Any) -> TyperOption | None:
        option = super().get_help_option(ctx)
        if option is not None and type(option) is TyperOption:
            option.__class__ = _HelpFlag  # the same object (typer caches it), processed as above
        return option

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if type(command) is TyperGroup:
            command.__class__ = KappaGroup
        return command
