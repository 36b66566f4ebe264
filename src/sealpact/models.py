"""Import every domain's tables so Base.metadata (and Alembic) sees the whole schema."""

from __future__ import annotations

import sealpact.accounts.models  # noqa: F401
import sealpact.audit.models  # noqa: F401
import sealpact.evidence.models  # noqa: F401
import sealpact.files.models  # noqa: F401
import sealpact.identity.models  # noqa: F401
import sealpact.jobs.models  # noqa: F401
import sealpact.notify.models  # noqa: F401
import sealpact.pki.models  # noqa: F401
import sealpact.pki.tsa_models  # noqa: F401
import sealpact.storage.models  # noqa: F401
