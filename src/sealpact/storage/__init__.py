"""Encrypted storage: blobs (files) and fields, under keys from a key provider.

Public entry points (reached through :class:`sealpact.runtime.Runtime`):

* ``runtime.blobs`` - :class:`sealpact.storage.service.BlobService`: ``put``/``put_in`` a stream,
  ``open`` (streaming reader), ``read_bytes``, ``read_range``, ``delete``, ``rewrap_all``, ``check``.
* ``runtime.fields`` - :class:`sealpact.storage.fields.FieldCipher`: ``encrypt``/``decrypt`` short
  strings per purpose, ``lookup_hash`` for equality lookups.
* ``runtime.keys`` - the :class:`sealpact.storage.keys.KeyProvider` (keyring file or PKCS#11 token).

Layout: ``envelope`` (pure chunked AEAD framing), ``pipeline`` (threads that overlap hashing and I/O),
``store``/``localstore``/``s3`` (where ciphertext lives), ``datakeys`` (per-domain data keys),
``rotation`` (KEK rotation and status), ``models`` (tables), ``errors``.
"""
