"""Where the portal hands an uploaded evidence file over: :func:`attach_evidence` seals it with the
encrypted-evidence module (``api/evidence.py``: AES-256-GCM envelope, data key wrapped with X25519
for the enterprise, the assigned verifier and the regulator, hashes anchored in EvidenceRegistry) —
the same path as ``POST /v1/enterprise/records/{id}/evidence``. Size limit and storage directory:
``CARBONLEDGER_EVIDENCE_MAX_BYTES``, ``CARBONLEDGER_EVIDENCE_DIR`` (read by that module).
"""

from __future__ import annotations

import os
import re
from typing import Any

from api.auth import Principal
from api.evidence import max_bytes, upload_evidence


class EvidenceRefused(ValueError):
    """The evidence file cannot be accepted (the message says why: empty, too large)."""


def evidence_max_bytes() -> int:
    """Largest accepted evidence file, bytes (``CARBONLEDGER_EVIDENCE_MAX_BYTES``, api/evidence.py)."""
    return max_bytes()


def attach_evidence(ctx: Any, principal: Principal, record_id: int, filename: str, data: bytes) -> dict[str, Any]:
    """Seal ``data`` (an evidence file of ``principal``'s record ``record_id``) for its readers,
    store the envelope and anchor its hashes (api/evidence.py).

    Args:
        ctx: the API's :class:`api.deps.AppContext`.
        principal: the enterprise that uploads (already scoped to the record by the caller).
        record_id: EmissionsRegistry record id.
        filename: the client's file name (only its safe characters are kept).
        data: the file's bytes.

    Returns:
        ``{"record_id", "filename", "size", "sha256": "0x…" (SHA-256 of the ciphertext, as
        anchored), "salted_plaintext_sha256", "evidence_id", "uploaded_by"}``.

    Raises:
        EvidenceRefused: empty file or larger than :func:`evidence_max_bytes`.
        api.problems.Problem: no-encryption-key (a reader registered none), not-found, …
        ContractRevert: EvidenceRegistry refused (e.g. the record is confirmed).
    """
    if not data:
        raise EvidenceRefused("the evidence file is empty")
    limit = max_bytes()
    if len(data) > limit:
        raise EvidenceRefused(f"the evidence file has {len(data)} bytes, more than the limit of {limit} bytes")
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.basename(filename or "evidence"))[:100] or "evidence"
    out = upload_evidence(ctx, principal, record_id, data, "evidence", safe, "application/octet-stream")
    return {"record_id": record_id, "filename": safe, "size": len(data), "sha256": out.ciphertext_sha256,
            "salted_plaintext_sha256": out.salted_plaintext_sha256, "evidence_id": out.id, "uploaded_by": principal.account}
