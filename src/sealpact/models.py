"""Import every domain's tables so Base.metadata (and Alembic) sees the whole schema."""

from __future__ import annotations

import sealpact.accounts.models
import sealpact.apiauth.models
import sealpact.audit.models
import sealpact.contracts.models
import sealpact.custody.models
import sealpact.evidence.models
import sealpact.files.models
import sealpact.identity.models
import sealpact.jobs.models
import sealpact.notify.models
import sealpact.notify.sms
import sealpact.notify.webhooks
import sealpact.pki.models
import sealpact.pki.tsa_models
import sealpact.seals.models
import sealpact.storage.models  # noqa: F401
