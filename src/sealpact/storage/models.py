"""Tables of the storage domain (blob metadata, wrapped data keys)."""

from __future__ import annotations
