"""PIN rules (pure): 6 to 12 ASCII digits, not all the same digit, not a straight ascending or descending run.

The PIN is the signer's factor of art. 13 "sole control"; with Argon2id and the attempt limit a 6-digit PIN
gives an attacker who holds the database *and* the keyring at most ``custody_max_pin_failures`` online
guesses, and an offline attacker nothing (the server share is needed, see :mod:`sealpact.custody`).
"""

from __future__ import annotations

from itertools import pairwise

from sealpact.custody.errors import WeakPin

MIN_LENGTH = 6
MAX_LENGTH = 12


def check_pin(pin: str) -> str:
    """Return ``pin`` if it is acceptable as a new PIN, else raise :class:`WeakPin` (never echoing it)."""
    if not (MIN_LENGTH <= len(pin) <= MAX_LENGTH) or not all("0" <= c <= "9" for c in pin):
        raise WeakPin(f"The PIN must be {MIN_LENGTH} to {MAX_LENGTH} digits.")
    if len(set(pin)) == 1:
        raise WeakPin("The PIN must not repeat one digit.")
    steps = {(int(b) - int(a)) % 10 for a, b in pairwise(pin)}
    if steps in ({1}, {9}):
        raise WeakPin("The PIN must not be a straight sequence of digits.")
    return pin


def well_formed(pin: str) -> bool:
    """Whether ``pin`` could be a PIN at all (digits, length): anything else is a wrong PIN, cheaply."""
    return MIN_LENGTH <= len(pin) <= MAX_LENGTH and all("0" <= c <= "9" for c in pin)
