"""Build the configured key provider."""

from __future__ import annotations

from sealpact.config import KeyProviderKind, Settings
from sealpact.storage.keys import KeyProvider, KeyUnavailable
from sealpact.storage.keys.keyring import KeyringKeyProvider, read_master_secret


def build_key_provider(settings: Settings, *, create_if_missing: bool = False) -> KeyProvider:
    """The provider named by ``settings.key_provider``.

    ``create_if_missing`` (used by ``sealpact keys init``) generates the first KEK on a PKCS#11 token
    that has none; the keyring file is created by ``sealpact init`` instead.
    """
    if settings.key_provider is KeyProviderKind.KEYRING:
        secret = read_master_secret(
            settings.master_secret.get_secret_value() if settings.master_secret else None,
            settings.effective_master_secret_file,
        )
        return KeyringKeyProvider(settings.keyring_path, secret)
    if settings.key_provider is KeyProviderKind.PKCS11:
        from sealpact.storage.keys.pkcs11 import Pkcs11KeyProvider

        if settings.pkcs11_module is None:
            raise KeyUnavailable("No PKCS#11 module: set SEALPACT_PKCS11_MODULE to the token's .so file.")
        return Pkcs11KeyProvider(
            settings.pkcs11_module,
            settings.pkcs11_token_label,
            settings.pkcs11_pin.get_secret_value() if settings.pkcs11_pin else "",
            create_if_missing=create_if_missing,
        )
    raise KeyUnavailable(f"Unknown key provider {settings.key_provider!r}.")
