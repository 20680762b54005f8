"""Figures: cka_intro."""

from __future__ import annotations

__all__: list[str] = []
