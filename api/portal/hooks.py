"""Extension points of the portal that other modules take over.

:func:`attach_evidence` is where the portal hands an uploaded evidence file over. Until the
encrypted-evidence module (``api/evidence.py``, ``POST /v1/enterprise/records/{id}/evidence``:
AES-256-GCM envelope, data key wrapped per reader with X25519, hashes anchored in
EvidenceRegistry) is merged, this default stores the plaintext file under the evidence directory
and returns its SHA-256; the lead points the hook at the evidence module.

Configuration (same variables the evidence module reads):

* ``CARBONLEDGER_EVIDENCE_DIR`` — storage directory (default ``.carbonledger/evidence``).
* ``CARBONLEDGER_EVIDENCE_MAX_BYTES`` — size limit of one file in bytes (default 10 MiB, an
  operational default of this service, not a regulatory value).
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path
from typing import Any

from api.auth import Principal

DEFAULT_MAX_BYTES = 10 * 1024 * 1024


class EvidenceRefused(ValueError):
    """The evidence file cannot be accepted (the message says why: empty, too large)."""


def evidence_dir() -> Path:
    """Storage directory of evidence files (``CARBONLEDGER_EVIDENCE_DIR``)."""
    return Path(os.environ.get("CARBONLEDGER_EVIDENCE_DIR", ".carbonledger/evidence"))


def evidence_max_bytes() -> int:
    """Largest accepted evidence file, bytes (``CARBONLEDGER_EVIDENCE_MAX_BYTES``)."""
    return int(os.environ.get("CARBONLEDGER_EVIDENCE_MAX_BYTES", DEFAULT_MAX_BYTES))


def attach_evidence(ctx: Any, principal: Principal, record_id: int, filename: str, data: bytes) -> dict[str, Any]:
    """Store ``data`` (an evidence file of ``principal``'s record ``record_id``).

    Args:
        ctx: the API's :class:`api.deps.AppContext`.
        principal: the enterprise that uploads (already scoped to the record by the caller).
        record_id: EmissionsRegistry record id.
        filename: the client's file name (only its safe characters are kept).
        data: the file's bytes.

    Returns:
        ``{"record_id", "filename", "size", "sha256": "0x…" (SHA-256 of the file), "stored_as"}``.

    Raises:
        EvidenceRefused: empty file or larger than :func:`evidence_max_bytes`.
    """
    if not data:
        raise EvidenceRefused("the evidence file is empty")
    limit = evidence_max_bytes()
    if len(data) > limit:
        raise EvidenceRefused(f"the evidence file has {len(data)} bytes, more than the limit of {limit} bytes")
    digest = hashlib.sha256(data).hexdigest()
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.basename(filename or "evidence"))[:100] or "evidence"
    folder = evidence_dir() / f"record-{record_id}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{int(time.time())}-{digest[:16]}-{safe}"
    path.write_bytes(data)
    return {"record_id": record_id, "filename": safe, "size": len(data), "sha256": "0x" + digest, "stored_as": str(path),
            "uploaded_by": principal.account}
