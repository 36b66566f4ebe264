"""The sandbox authority: a small HTTP service that plays every identity authority for tests and demos.

Run it on its own (``sealpact sandbox-authority``) or mount it in the platform's app (the embedded
development default). It speaks the same signed HTTP contract as a production gateway, and says
``"sandbox": true`` in every answer so nothing verified through it passes as real.
"""

from sealpact.identity.sandbox.app import SandboxAuthority, create_sandbox_app
from sealpact.identity.sandbox.registry import TestRegistry, default_registry, load_registry

__all__ = ["SandboxAuthority", "TestRegistry", "create_sandbox_app", "default_registry", "load_registry"]
