"""Tables of the jobs package: the record of jobs that failed for good."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sealpact.db import Base, UTCDateTime, new_id


class JobFailure(Base):
    """A job that exhausted its retries or failed permanently.

    Only the task name, ids and the error class are kept: arguments and messages may hold personal data.
    """

    __tablename__ = "job_failures"
    __table_args__ = (Index("ix_job_failures_failed_at", "failed_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    job_id: Mapped[str] = mapped_column(String(64))
    task_name: Mapped[str] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(String(200))
    permanent: Mapped[bool] = mapped_column()
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime())
