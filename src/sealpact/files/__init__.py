"""Uploaded files: a user's documents before they become part of a contract.

A file is an owner plus an encrypted blob. Only its owner can read it; anyone else gets 404.
"""
