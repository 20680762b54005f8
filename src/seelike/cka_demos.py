"""Deprecated name of `seelike.cka_intro` (the CKA experiments of chapter 4)."""

# shim until the chapters move; remove after (chapter 4: `from seelike import cka_intro`).
from .cka_intro import *  # noqa: F403
from .cka_intro import __all__  # noqa: F401
