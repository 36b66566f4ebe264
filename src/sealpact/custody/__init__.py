"""Signer key custody: the signer's key is usable only with the signer's PIN (PRC Electronic Signature
Law art. 13: the signature creation data is controlled only by the signer at the time of signing).

Default mode. When the signer's certificate is issued, an ECDSA P-256 key pair is generated and the
private key (PKCS#8) is encrypted with AES-256-GCM under

    KEK_user = HKDF-SHA256(Argon2id(PIN, salt) ‖ server_share, info = "sealpact/custody/kek/v1" ‖ key id)

where ``server_share`` is 32 random bytes per key, stored only wrapped by the platform key provider
(``runtime.keys.wrap``, context bound to the key id). The PIN is never stored, logged or audited.

Why nobody but the signer can sign:

* **A stolen database** holds the salt, the wrapped share and the encrypted key. The share is wrapped by a
  KEK that is not in the database (keyring file or HSM), so an offline PIN search is impossible: each
  guess needs the share, and without it the HKDF input has 256 unknown bits.
* **The keyring alone** (or the HSM) unwraps shares but holds no encrypted signer key; with the database
  as well, the attacker still needs the PIN. Offline guessing is then possible only at Argon2id cost
  (64 MiB, 3 passes per guess); online guessing through the platform is capped at
  ``custody_max_pin_failures`` attempts, counted atomically in the database before the PIN is tried.
  Operators should keep the database and the key provider apart (that is what the HSM option is for).
* **The operator without the PIN** can run the platform's code but cannot produce KEK_user: the PIN
  enters only at signing time, is used once and is not kept; the decrypted key lives in memory for one
  signing and is never cached (:meth:`Custody.unlock`). A PIN reset does not recover the old key: it makes
  a new key and revokes the old certificate, visibly (audit event, CRL), and requires a fresh identity
  re-verification.

Other modes: :mod:`sealpact.custody.event` (a fresh key and a one-hour certificate per signing event, the
private key only in memory) and :mod:`sealpact.custody.external` (the signer's own PKCS#11 token).

Public entry points: :class:`sealpact.custody.service.Custody` (``runtime.custody``) and
:class:`sealpact.custody.keysource.CustodyKeySource` (the contracts ``KeySource``).
"""
