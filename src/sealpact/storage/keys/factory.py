"""Build the configured key provider."""

from __future__ import annotations

from sealpact.config import KeyProviderKind, Settings
from sealpact.storage.keys import KeyProvider
from sealpact.storage.keys.keyring import KeyringKeyProvider, read_master_secret


def build_key_provider(settings: Settings) -> KeyProvider:
    if settings.key_provider is KeyProviderKind.KEYRING:
        secret = read_master_secret(
            settings.master_secret.get_secret_value() if settings.master_secret else None,
            settings.effective_master_secret_file,
        )
        return KeyringKeyProvider(settings.keyring_path, secret)
    raise NotImplementedError("PKCS#11 key provider: see sealpact.storage.keys.pkcs11")
