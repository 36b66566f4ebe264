"""Tables of the time-stamp authority: the serial-number counter (RFC 3161 section 2.4.2)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from sealpact.db import Base, UTCDateTime


class TsaSerialCounter(Base):
    """The next unreserved serial of one TSA, and the latest time any process reserved a block.

    Processes reserve blocks of serials with one row-locking UPDATE and hand them out from memory, so
    serials are unique across processes and restarts but not dense: an unused rest of a block is
    skipped (section 2.4.2 requires uniqueness only). ``high_water_time`` lets a restarted process
    notice a clock that went backwards.
    """

    __tablename__ = "tsa_serial_counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_serial: Mapped[int] = mapped_column(BigInteger)
    high_water_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    blocks_reserved: Mapped[int] = mapped_column(BigInteger)
