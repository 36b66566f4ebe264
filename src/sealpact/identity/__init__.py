"""Real-name authentication: local checks, verification methods, providers and the sandbox authority.

Layout: :mod:`checks` and :mod:`masking` are pure; :mod:`providers` holds the Protocols and result
types; :mod:`http` the signed HTTP client; :mod:`adapters` the sealpact provider contract over HTTP;
:mod:`tencent` a Tencent Cloud FaceID adapter; :mod:`sandbox` the sandbox authority app.
"""
