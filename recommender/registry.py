"""Picking a strategy class by the name a Config stores."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


def pick(registry: Mapping[str, T], field: str, name: str) -> T:
    """registry[name], or a ValueError naming `field`, every registered name and `name`."""
    try:
        return registry[name]
    except KeyError:
        expected = ", ".join(repr(known) for known in registry)
        raise ValueError(f"{field} must be one of {expected}, got {name!r}") from None
