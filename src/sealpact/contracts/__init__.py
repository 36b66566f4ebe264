"""Contracts (envelopes): documents, parties, routing, fields, templates, signing links, lifecycle.

Layout: :mod:`state`, :mod:`routing` and :mod:`layout` are pure (state machines, who acts now, field
placement rules); :mod:`service` holds the sender's use cases, :mod:`signer` the signer's, :mod:`core`
what both share inside one transaction, :mod:`sweeps` the scheduled expiry and reminders,
:mod:`templates` reusable documents with roles, :mod:`notices` the messages to parties.
"""
