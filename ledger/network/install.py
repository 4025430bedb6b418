"""The geth binary of the consortium network: go-ethereum v1.13.15, found in the project's cache
or built there by ``scripts/geth.sh install`` (``go install`` from the Go module proxy; the
remedies it tries when the machine's Go refuses the plain build are listed in that script).

v1.13.15 is the last release that still seals Clique proof-of-authority blocks (later releases
need a beacon node): the version is pinned here and in the script.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

#: The pinned go-ethereum release (the last one that seals Clique blocks).
GETH_VERSION = "1.13.15"
#: The installer, relative to the project root.
INSTALLER = Path("scripts/geth.sh")


class GethUnavailable(RuntimeError):
    """geth v1.13.15 is not in the cache and could not be built (the message carries the build errors)."""


def geth_cache_dir() -> Path:
    """``$CARBONLEDGER_CACHE/geth-1.13.15`` (default ``~/.cache/carbonledger/geth-1.13.15``), as in
    ``scripts/geth.sh``."""
    base = Path(os.environ.get("CARBONLEDGER_CACHE") or Path.home() / ".cache" / "carbonledger")
    return base / f"geth-{GETH_VERSION}"


def geth_binary(project_root: Path, build: bool = True, timeout: float = 3600.0) -> Path:
    """Path of the geth v1.13.15 binary, building it into the cache first if it is absent.

    Args:
        project_root: the clone (where ``scripts/geth.sh`` is).
        build: False: only look in the cache (``scripts/geth.sh path``), never build.
        timeout: seconds a cold build may take (measured here: about 3.5 min on 2 cores, most of it
            downloading and compiling the modules; README "A consortium network").

    Raises:
        GethUnavailable: the binary is absent (``build=False``) or no build attempt succeeded; the
            message holds the installer's stderr (the exact compiler errors).
    """
    script = project_root / INSTALLER
    if not script.exists():
        raise GethUnavailable(f"installer {script} is missing")
    try:
        proc = subprocess.run(["bash", str(script), "install" if build else "path"], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise GethUnavailable(f"building geth v{GETH_VERSION} took longer than {timeout:.0f} s") from None
    path = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    if proc.returncode != 0 or not path:
        what = "could not be built" if build else f"is not in {geth_cache_dir()} (run scripts/geth.sh install)"
        raise GethUnavailable(f"geth v{GETH_VERSION} {what}:\n{proc.stderr.strip()}")
    return Path(path)
