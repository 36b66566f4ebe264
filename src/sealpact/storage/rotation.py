"""KEK rotation and key status: a new KEK, then every wrapped data key re-wrapped under it.

Only the wrapped keys change (blob metadata rows and the ``data_keys`` table); no blob is re-encrypted.
Re-wrapping commits one batch at a time and selects what is not yet under the active KEK, so an
interrupted rotation is finished by running it again (``--resume`` continues without a new KEK).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sealpact.errors import InvalidInput
from sealpact.storage.datakeys import DataKeyStore
from sealpact.storage.keys import KeyProvider
from sealpact.storage.service import BlobService

if TYPE_CHECKING:
    from sealpact.runtime import Runtime


@dataclass(frozen=True)
class KeyStatus:
    provider: str
    active_kek_id: str
    blobs_by_kek: dict[str, int]
    data_keys_by_kek: dict[str, int]

    @property
    def pending(self) -> int:
        """Wrapped keys not yet under the active KEK (non-zero after an interrupted rotation)."""
        return sum(n for k, n in self.blobs_by_kek.items() if k != self.active_kek_id) + sum(
            n for k, n in self.data_keys_by_kek.items() if k != self.active_kek_id
        )

    @property
    def keks_in_use(self) -> list[str]:
        return sorted(set(self.blobs_by_kek) | set(self.data_keys_by_kek))


@dataclass(frozen=True)
class RotationReport:
    previous_kek_id: str
    active_kek_id: str
    new_kek: bool
    blobs_rewrapped: int
    data_keys_rewrapped: int


class KeyManagement:
    def __init__(self, keys: KeyProvider, blobs: BlobService, data_keys: DataKeyStore) -> None:
        self._keys = keys
        self._blobs = blobs
        self._data_keys = data_keys

    @classmethod
    def from_runtime(cls, runtime: Runtime) -> KeyManagement:
        return cls(runtime.keys, runtime.blobs, runtime.data_keys)

    def status(self) -> KeyStatus:
        return KeyStatus(
            provider=self._keys.name,
            active_kek_id=self._keys.active_kek_id(),
            blobs_by_kek=self._blobs.count_by_kek(),
            data_keys_by_kek=self._data_keys.count_by_kek(),
        )

    def rotate(self, *, resume_only: bool = False, batch_size: int = 500) -> RotationReport:
        """Make a new KEK active (unless ``resume_only``) and re-wrap every data key under it."""
        if batch_size < 1:
            raise InvalidInput("The batch size must be at least 1.")
        previous = self._keys.active_kek_id()
        active = previous if resume_only else self._keys.rotate()
        blobs = self._blobs.rewrap_all(batch_size=batch_size)
        data_keys = self._data_keys.rewrap(batch_size=batch_size)
        return RotationReport(
            previous_kek_id=previous,
            active_kek_id=active,
            new_kek=not resume_only,
            blobs_rewrapped=blobs,
            data_keys_rewrapped=data_keys,
        )
