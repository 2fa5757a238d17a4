"""Parsing of the list options every benchmark declaration shares (``--archs``, ``--seeds``),
with one-line errors naming the flag."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["choices", "seeds", "split"]


def split(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [t.strip() for t in text.split(",") if t.strip()]


def choices(flag: str, text: str, known: Sequence[str]) -> list[str]:
    """The comma-separated values of ``flag``, each one of ``known`` (at least one)."""
    values = split(text)
    if not values or any(v not in known for v in values):
        raise ValueError(f"{flag} must list some of {', '.join(known)}; got {text!r}")
    return values


def seeds(text: str, flag: str = "--seeds") -> list[int]:
    """Comma-separated integers >= 0 (at least one)."""
    try:
        values = [int(s) for s in split(text)]
    except ValueError:
        raise ValueError(f"{flag} must be comma-separated integers; got {text!r}") from None
    if not values or min(values) < 0:
        raise ValueError(f"{flag} needs integers >= 0; got {text!r}")
    return values
