"""Trading selectors: contracts. Reads, always scoped to the user."""

from __future__ import annotations
