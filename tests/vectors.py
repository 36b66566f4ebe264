"""Where the shared test vectors are: ``../shared/vectors`` beside the repository (as CI lays it out).

``SEALPACT_VECTORS_DIR`` overrides it. Missing vectors fail the run: they are the outside check.
"""

from __future__ import annotations

import os
from pathlib import Path

VECTORS_DIR = Path(
    os.environ.get("SEALPACT_VECTORS_DIR") or Path(__file__).resolve().parents[2] / "shared" / "vectors"
)
if not VECTORS_DIR.is_dir():
    raise RuntimeError(f"test vectors not found at {VECTORS_DIR} (set SEALPACT_VECTORS_DIR)")
