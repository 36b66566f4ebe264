"""Signed API access for systems: canonical requests, HMAC-SHA256 signatures, nonce and rate stores.

A separate package (not inside ``accounts``) because :mod:`sealpact.apiauth.canonical` is pure and is
shared with the Python client (:mod:`sealpact.client`), which must not import the server's services;
the stores and tables sit beside it. Key management and request verification live in
:mod:`sealpact.accounts.apikeys` (``runtime.api_keys``), next to the other credentials.
"""
