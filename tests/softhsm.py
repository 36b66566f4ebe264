"""A real SoftHSM2 token for PKCS#11 tests (key provider, CA keys).

Usage: add ``from tests.softhsm import softhsm  # noqa: F401`` to a test module (or a conftest) and take
the ``softhsm`` fixture. It is session-scoped because SoftHSM reads ``SOFTHSM2_CONF`` once, when the
library is first initialised in the process: one token directory per test session, shared by every test
in it (give your objects unique labels). Subprocesses (e.g. the CLI) get the same token via ``.env``.

Locally, a machine without SoftHSM2 skips these tests; in CI (CI=true) that is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.services import IN_CI

MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
TOKEN_LABEL = "sealpact-test"
# Extra tokens initialised with the first: SoftHSM only sees tokens that exist when it is initialised,
# so tests that need a second, untouched token (e.g. "no key on the token yet") take one of these.
SPARE_TOKEN_LABELS = ("sealpact-spare-1", "sealpact-spare-2", "sealpact-spare-3")
USER_PIN = "1234-user"
SO_PIN = "5678-so"


@dataclass(frozen=True)
class SoftHSM:
    module: Path  # the PKCS#11 module (.so) to load
    token_label: str
    user_pin: str
    so_pin: str
    conf: Path  # the softhsm2.conf naming the temporary token directory
    env: dict[str, str] = field(default_factory=dict)  # {"SOFTHSM2_CONF": ...} for subprocesses
    spare_tokens: tuple[str, ...] = ()  # labels of further initialised tokens (same PINs)

    def init_token(self, label: str) -> None:
        """Initialise another token in the same directory (visible to new processes only)."""
        _run_util(
            self.env,
            "--init-token",
            "--free",
            "--label",
            label,
            "--so-pin",
            self.so_pin,
            "--pin",
            self.user_pin,
        )


def find_module() -> Path | None:
    for candidate in (os.environ.get("SEALPACT_TEST_PKCS11_MODULE"), *MODULE_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def _run_util(env: dict[str, str], *args: str) -> None:
    util = shutil.which("softhsm2-util")
    assert util is not None
    result = subprocess.run(
        [util, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"softhsm2-util {args[0]} failed: {result.stderr.strip() or result.stdout.strip()}"
        )


def make_softhsm(directory: Path) -> SoftHSM:
    """Create a token directory, a config naming it, and one initialised token."""
    module = find_module()
    if module is None or shutil.which("softhsm2-util") is None:
        message = "SoftHSM2 is not installed (apt-get install softhsm2; see scripts/system-deps.sh)"
        if IN_CI:
            pytest.fail(message + " (CI=true: a missing service is a failure)")
        pytest.skip(message)
    tokens = directory / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    conf = directory / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\n"
        "log.level = ERROR\nslots.removable = false\n"
    )
    env = {"SOFTHSM2_CONF": str(conf)}
    hsm = SoftHSM(
        module=module,
        token_label=TOKEN_LABEL,
        user_pin=USER_PIN,
        so_pin=SO_PIN,
        conf=conf,
        env=env,
        spare_tokens=SPARE_TOKEN_LABELS,
    )
    for label in (TOKEN_LABEL, *SPARE_TOKEN_LABELS):
        hsm.init_token(label)
    return hsm


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHSM]:
    """Module path, token label, user PIN and environment of a fresh SoftHSM2 token for this session.

    Sets ``SOFTHSM2_CONF`` in this process for the whole session (SoftHSM reads it once) and restores
    it afterwards.
    """
    hsm = make_softhsm(tmp_path_factory.mktemp("softhsm"))
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(hsm.conf)
    try:
        yield hsm
    finally:
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous
