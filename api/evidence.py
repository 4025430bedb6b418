"""Encrypted evidence (issue 6 "Evidence (加密上链)"): upload, envelope download, public hash check,
re-wrap for a newly assigned verifier, and registration of a participant's X25519 key.

Flow of an upload (``POST /v1/enterprise/records/{id}/evidence``, multipart ``file`` + ``kind``):
the API reads the record's readers' X25519 public keys from ParticipantRegistry (every account of
the enterprise and of the regulator that registered one, and the assigned verifier if any —
:func:`ledger.records.evidence.record_readers`), seals the file (:func:`ledger.crypto.envelope.seal`, context =
chain id, EvidenceRegistry, record id, kind), stores the envelope in the evidence directory,
and anchors SHA-256(ciphertext) and SHA-256(salt ‖ plaintext) with ``EvidenceRegistry.attach``
sent from the enterprise's custodial account (pre-flight first: a refusal costs nothing and
leaves no file). The API never keeps a plaintext.

Re-wrap (decision): explicit, ``POST /v1/regulator/records/{id}/evidence/rewrap``, called by the
regulator after ``POST /v1/regulator/records/{id}/verifier`` (assignment can also happen directly
on-chain, which the API would not see). The key table of every envelope of the record becomes the
record's current readers; the data key is unwrapped with the key of a custodial reader (the calling
regulator's if the API holds it, else the enterprise's) and wrapped anew — the ciphertext and its
on-chain hash are unchanged, nothing is re-uploaded. A verifier re-assigned away loses its
wrapped key in the stored copy.

Configuration (read at each request): ``CARBONLEDGER_EVIDENCE_DIR`` (default
``$CARBONLEDGER_HOME/evidence``, ``CARBONLEDGER_HOME`` defaulting to ``.carbonledger``, the CLI's
data directory) and ``CARBONLEDGER_EVIDENCE_MAX_BYTES`` (largest file, bytes; default 20 MiB — our
choice, no rule sets one). A request body larger than the limit plus 64 KiB of multipart framing
is refused by :class:`UploadLimit` before it is read.

Keys: the API decrypts (``GET /v1/evidence/{id}/content``) and re-wraps only with custodial
accounts' X25519 keys, derived from their signing keys (:func:`ledger.crypto.keystore.derive_encryption_key`);
a non-custodial reader downloads the envelope and opens it with its own key
(:func:`ledger.crypto.envelope.open_envelope`).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path as FsPath
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, File, Form, Path, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import ROLE_NAMES, Principal, require_role
from api.deps import AppContext, context, require_custodial
from api.pagination import PageParams, page
from api.problems import PROBLEM_TYPES, Problem, problem_response
from api.records_common import scoped_record
from api.store import EvidenceFile
from ledger.chain.client import Call
from ledger.crypto import envelope as ev
from ledger.records import evidence as evidence_records

EVIDENCE_DIR_ENV = "CARBONLEDGER_EVIDENCE_DIR"
EVIDENCE_MAX_BYTES_ENV = "CARBONLEDGER_EVIDENCE_MAX_BYTES"
HOME_ENV = "CARBONLEDGER_HOME"
#: Default largest evidence file: 20 MiB (our choice; no rule sets a size).
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
#: Allowance for multipart framing and the ``kind`` field on top of the file size.
MULTIPART_OVERHEAD = 64 * 1024
ENVELOPE_MEDIA_TYPE = "application/vnd.carbonledger.evidence"
#: Largest ids the store's columns hold (evidence_files.id INTEGER, record_id BIGINT).
MAX_EVIDENCE_ID, MAX_RECORD_ID = 2**31 - 1, 2**63 - 1
KIND_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"
MEDIA_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,62}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,62}$")
UPLOAD_PATH = re.compile(r"^/v1/enterprise/records/[^/]+/evidence/?$")

PROBLEM_TYPES.update({
    "evidence-too-large": ("Evidence file too large", 413, "The file exceeds CARBONLEDGER_EVIDENCE_MAX_BYTES (`max_bytes`)."),
    "no-encryption-key": ("Reader without an encryption key", 409, "A reader of the record's evidence (the enterprise, the assigned verifier or the regulator: `account`) has registered no X25519 key with ParticipantRegistry.setEncryptionKey (POST /v1/evidence/encryption-key for custodial accounts)."),
    "not-a-reader": ("Not a reader of this envelope", 409, "The envelope holds no data key for the caller (e.g. a verifier assigned after the upload): the regulator re-wraps it with POST /v1/regulator/records/{id}/evidence/rewrap."),
    "evidence-tampered": ("Stored evidence fails its checks", 409, "The stored envelope does not match its anchored SHA-256 or fails authentication; it must not be trusted."),
})

router = APIRouter(tags=["evidence"])
public = APIRouter(prefix="/v1/public", tags=["public"])
readers_only = require_role("ENTERPRISE_ROLE", "VERIFIER_ROLE", "REGULATOR_ROLE")
enterprise = require_role("ENTERPRISE_ROLE")
regulator = require_role("REGULATOR_ROLE")
anyone_admitted = require_role(*ROLE_NAMES)


# --------------------------------------------------------------------------- configuration
def evidence_dir() -> FsPath:
    """Directory of the envelope files (created 0700 on first use)."""
    d = os.environ.get(EVIDENCE_DIR_ENV)
    path = FsPath(d) if d else FsPath(os.environ.get(HOME_ENV) or ".carbonledger") / "evidence"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def max_bytes() -> int:
    """Largest accepted evidence file in bytes (``CARBONLEDGER_EVIDENCE_MAX_BYTES``)."""
    raw = os.environ.get(EVIDENCE_MAX_BYTES_ENV)
    try:
        n = int(raw) if raw else DEFAULT_MAX_BYTES
    except ValueError:
        raise RuntimeError(f"{EVIDENCE_MAX_BYTES_ENV}={raw!r} is not an integer") from None
    if n < 1:
        raise RuntimeError(f"{EVIDENCE_MAX_BYTES_ENV} must be >= 1")
    return n


class UploadLimit:
    """ASGI middleware: refuses an evidence upload whose declared body is larger than the limit
    plus :data:`MULTIPART_OVERHEAD` (413 ``evidence-too-large``), and stops reading one without a
    Content-Length once it passes that size — before the body is buffered by anything else (the
    idempotency middleware buffers whole bodies)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not UPLOAD_PATH.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        limit = max_bytes()
        cap = limit + MULTIPART_OVERHEAD
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > cap):
            resp = problem_response("evidence-too-large", f"request body of {declared.decode(errors='replace')} bytes exceeds the "
                                    f"{limit}-byte evidence limit", scope["path"], max_bytes=limit)
            await resp(scope, receive, send)
            return
        if declared is not None:
            await self.app(scope, receive, send)
            return
        # No Content-Length (chunked): read at most `cap` bytes, then replay them to the app.
        messages, seen = [], 0
        while True:
            msg = await receive()
            messages.append(msg)
            if msg["type"] != "http.request":
                break
            seen += len(msg.get("body", b""))
            if seen > cap:
                resp = problem_response("evidence-too-large", f"request body exceeds the {limit}-byte evidence limit",
                                        scope["path"], max_bytes=limit)
                await resp(scope, receive, send)
                return
            if not msg.get("more_body", False):
                break

        async def replay() -> Any:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def install(app: FastAPI) -> None:
    """Register the evidence routers and the upload limit on ``app`` (one line in api/app.py)."""
    app.include_router(router)
    app.include_router(public)
    app.add_middleware(UploadLimit)


# --------------------------------------------------------------------------- schemas
class EvidenceOut(BaseModel):
    """An evidence file's metadata (no content)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 1, "record_id": 3, "index": 0, "kind": "invoice", "filename": "invoice-2024-01.pdf",
        "media_type": "application/pdf", "plaintext_bytes": 48213, "envelope_bytes": 49610,
        "ciphertext_sha256": "0x" + "ab" * 32, "salted_plaintext_sha256": "0x" + "cd" * 32,
        "uploaded_by": "0x" + "11" * 20, "readers": ["0x" + "11" * 20], "tx_hash": "0x" + "ef" * 32,
        "created_at": 1767225600, "rewrapped_at": None}]})

    id: int = Field(description="API id of the evidence file")
    record_id: int = Field(description="EmissionsRegistry record id")
    index: int = Field(description="position in EvidenceRegistry's list of the record")
    kind: str
    filename: str
    media_type: str
    plaintext_bytes: int = Field(description="file size, bytes")
    envelope_bytes: int = Field(description="envelope size, bytes")
    ciphertext_sha256: str = Field(pattern=r"^0x[0-9a-f]{64}$")
    salted_plaintext_sha256: str = Field(pattern=r"^0x[0-9a-f]{64}$")
    uploaded_by: str
    readers: list[str] = Field(description="accounts the data key is wrapped to")
    tx_hash: str
    created_at: int = Field(description="UTC seconds")
    rewrapped_at: int | None = Field(description="UTC seconds of the last re-wrap")


class EvidencePage(BaseModel):
    """A page of evidence files."""

    items: list[EvidenceOut]
    next_cursor: str | None


class EvidenceHashOut(BaseModel):
    """What anyone can check: the hashes EvidenceRegistry holds for an evidence file, and whether
    the stored envelope's ciphertext still hashes to them."""

    id: int
    record_id: int
    index: int
    kind: str
    ciphertext_sha256: str = Field(description="SHA-256(ciphertext) read from EvidenceRegistry")
    salted_plaintext_sha256: str = Field(description="SHA-256(salt ‖ plaintext) read from EvidenceRegistry")
    attached_by: str
    attached_at: int = Field(description="block timestamp, UTC seconds")
    stored_ciphertext_sha256: str | None = Field(description="SHA-256 of the stored envelope's ciphertext (null if unreadable)")
    stored_matches_chain: bool
    registry: str = Field(description="EvidenceRegistry address")


class RewrapOut(BaseModel):
    """The record's evidence after re-wrapping."""

    record_id: int
    holders: list[str] = Field(description="custodial readers whose keys unwrapped the data keys")
    readers: list[str]
    items: list[EvidenceOut]


class EncryptionKeyIn(BaseModel):
    """Register the caller's X25519 public key; omit it to register the key the API derives from
    the caller's custodial signing key."""

    model_config = ConfigDict(extra="forbid")

    public_key: str | None = Field(default=None, pattern=r"^0x[0-9a-fA-F]{64}$", description="32-byte X25519 public key")


class EncryptionKeyOut(BaseModel):
    """The key now registered in ParticipantRegistry."""

    account: str
    public_key: str
    tx_hash: str


# --------------------------------------------------------------------------- helpers
def _out(row: EvidenceFile) -> EvidenceOut:
    return EvidenceOut(id=row.id, record_id=row.record_id, index=row.chain_index, kind=row.kind, filename=row.filename,
                       media_type=row.media_type, plaintext_bytes=row.plaintext_bytes, envelope_bytes=row.envelope_bytes,
                       ciphertext_sha256=row.ciphertext_sha256, salted_plaintext_sha256=row.salted_plaintext_sha256,
                       uploaded_by=row.uploaded_by, readers=json.loads(row.readers), tx_hash=row.tx_hash,
                       created_at=row.created_at, rewrapped_at=row.rewrapped_at)


def _row(ctx: AppContext, evidence_id: int) -> EvidenceFile:
    with Session(ctx.api_store) as s:
        row = s.get(EvidenceFile, evidence_id)
        if row is None:
            raise Problem("not-found", f"no evidence {evidence_id}")
        s.expunge(row)
        return row


def _scoped_row(ctx: AppContext, p: Principal, evidence_id: int) -> EvidenceFile:
    row = _row(ctx, evidence_id)
    try:
        scoped_record(ctx.deployment, p, row.record_id)
    except Problem:
        raise Problem("not-found", f"no evidence {evidence_id} visible to {p.account}") from None
    return row


def _readers(ctx: AppContext, record_id: int, r: dict[str, Any] | None = None) -> dict[str, bytes]:
    try:
        return evidence_records.record_readers(ctx.deployment, record_id, r)
    except ev.MissingEncryptionKey as exc:
        raise Problem("no-encryption-key", str(exc), account=exc.account) from None


def _write_atomic(path: FsPath, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def _load(row: EvidenceFile) -> ev.Envelope:
    try:
        return ev.Envelope.from_bytes((evidence_dir() / row.storage_name).read_bytes())
    except (OSError, ev.MalformedEnvelope) as exc:
        raise Problem("evidence-tampered", f"stored envelope of evidence {row.id} is unreadable: {exc}") from None


def _safe_filename(name: str | None) -> str:
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    base = "".join(c for c in base if c.isprintable() and c not in '"\r\n')
    return base.encode("utf-8", "replace").decode("utf-8")[:255] or "evidence"


def _safe_media_type(value: str | None) -> str:
    return value if value and len(value) <= 100 and MEDIA_TYPE.match(value) else "application/octet-stream"


def _disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the UTF-8 name (RFC 6266 / RFC 8187)."""
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in filename) or "evidence"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


# --------------------------------------------------------------------------- upload
def upload_evidence(ctx: AppContext, p: Principal, record_id: int, data: bytes, kind: str, filename: str,
                    media_type: str) -> EvidenceOut:
    """Seal ``data`` for the readers of ``p``'s record ``record_id`` (AES-256-GCM, data key wrapped
    for each reader's X25519 key), store the envelope and anchor its hashes in EvidenceRegistry from
    the caller's custodial account — the service behind ``POST /v1/enterprise/records/{id}/evidence``
    and the portal's upload. The caller checks the size (:func:`max_bytes`) and cleans ``filename``.

    Raises:
        Problem: not-found (not the caller's record), no-custodial-key, no-encryption-key.
        ContractRevert: EvidenceRegistry refused (e.g. the record is confirmed).
    """
    dep = ctx.deployment
    r = scoped_record(dep, p, record_id)            # first: no existence leak to other enterprises
    sender = require_custodial(ctx, p.account)
    readers = _readers(ctx, record_id, r)
    envelope = ev.seal(data, readers, evidence_records.record_context(dep, record_id, kind))
    blob = envelope.to_bytes()
    ct_hex = envelope.ciphertext_sha256.hex()
    target = evidence_dir() / f"{ct_hex}.clev"
    staged = target.with_name(target.name + ".staged")
    _write_atomic(staged, blob)
    try:
        index, tx = evidence_records.attach(dep, sender, record_id, envelope, kind)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    staged.replace(target)
    row = EvidenceFile(record_id=record_id, chain_index=index, org_id=p.org_id.lower(), uploaded_by=p.account, kind=kind,
                       filename=filename, media_type=media_type, plaintext_bytes=len(data), envelope_bytes=len(blob),
                       ciphertext_sha256="0x" + ct_hex, salted_plaintext_sha256="0x" + envelope.salted_plaintext_sha256.hex(),
                       storage_name=target.name, readers=json.dumps(envelope.readers), tx_hash=tx.tx_hash,
                       created_at=int(time.time()))
    with Session(ctx.api_store) as s, s.begin():
        s.add(row)
        s.flush()
        s.expunge(row)
    return _out(row)


@router.post("/v1/enterprise/records/{record_id}/evidence", status_code=201, response_model=EvidenceOut,
             summary="Attach an evidence file to a record (encrypted, hashes anchored on-chain)")
async def post_evidence(record_id: int = Path(ge=1, le=MAX_RECORD_ID), file: UploadFile = File(description="the evidence file, any type"),
                        kind: str = Form(pattern=KIND_PATTERN, description="document kind, e.g. invoice, fuel-purchase, lab-ncv"),
                        p: Principal = Depends(enterprise), ctx: AppContext = Depends(context)) -> EvidenceOut:
    """Seals the file for the record's readers (enterprise, assigned verifier, regulator; X25519
    keys from ParticipantRegistry) with AES-256-GCM, stores the envelope and anchors
    SHA-256(ciphertext) and SHA-256(salt ‖ plaintext) in EvidenceRegistry from the caller's
    custodial account. Problems: evidence-too-large (413), no-encryption-key, no-custodial-key,
    contract-refused (e.g. RecordConfirmed), not-found (not the caller's record)."""
    limit = max_bytes()
    chunks, n = [], 0
    while chunk := await file.read(1 << 20):
        n += len(chunk)
        if n > limit:
            raise Problem("evidence-too-large", f"the file exceeds the {limit}-byte evidence limit", max_bytes=limit)
        chunks.append(chunk)
    return await run_in_threadpool(upload_evidence, ctx, p, record_id, b"".join(chunks), kind, _safe_filename(file.filename),
                                   _safe_media_type(file.content_type))


# --------------------------------------------------------------------------- reads
@router.get("/v1/evidence", response_model=EvidencePage, summary="Evidence files of a record (paginated)")
async def list_evidence(record_id: int = Query(ge=1, le=MAX_RECORD_ID), params: PageParams = Depends(), p: Principal = Depends(readers_only),
                        ctx: AppContext = Depends(context)) -> dict[str, Any]:
    """Metadata of a record's evidence, by id; the record must be visible to the caller (its
    enterprise, its assigned verifier, the regulator)."""
    await run_in_threadpool(scoped_record, ctx.deployment, p, record_id)
    rows = await run_in_threadpool(record_evidence, ctx, record_id, params.after, params.limit + 1)
    return page(rows, params, lambda e: e.id)


def record_evidence(ctx: AppContext, record_id: int, after: int = 0, limit: int | None = None) -> list[EvidenceOut]:
    """Metadata of record ``record_id``'s evidence files stored by this API, by id, those with
    id > ``after``, at most ``limit`` (None: all) — the service behind ``GET /v1/evidence`` and the
    in-process source of the provenance check. The caller checks the record is visible."""
    with Session(ctx.api_store) as s:
        q = select(EvidenceFile).where(EvidenceFile.record_id == record_id, EvidenceFile.id > after).order_by(EvidenceFile.id)
        if limit is not None:
            q = q.limit(limit)
        return [_out(r) for r in s.scalars(q)]


@router.get("/v1/evidence/{evidence_id}", response_class=Response, summary="Download an evidence envelope (encrypted)",
            responses={200: {"content": {ENVELOPE_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
                             "description": "the envelope file (ledger/evidence.py format v1)"}})
async def get_envelope(evidence_id: int = Path(ge=1, le=MAX_EVIDENCE_ID), p: Principal = Depends(readers_only), ctx: AppContext = Depends(context)) -> Response:
    """The envelope as stored: only the record's enterprise, its assigned verifier and the
    regulator may download it; each opens it with its own X25519 key. ``X-CL-Ciphertext-SHA256``
    gives the anchored hash to check it against."""
    row = await run_in_threadpool(_scoped_row, ctx, p, evidence_id)
    blob = (await run_in_threadpool(_load, row)).to_bytes()
    return Response(blob, media_type=ENVELOPE_MEDIA_TYPE, headers={
        "X-CL-Ciphertext-SHA256": row.ciphertext_sha256,
        "Content-Disposition": f'attachment; filename="evidence-{row.id}.clev"'})


def _content(ctx: AppContext, p: Principal, evidence_id: int) -> tuple[EvidenceFile, bytes]:
    row = _scoped_row(ctx, p, evidence_id)
    key = evidence_records.custodial_encryption_key(ctx.deployment.client, p.account)
    if key is None:
        raise Problem("no-custodial-key", f"the API holds no key for {p.account}: download GET /v1/evidence/{evidence_id} and open it yourself")
    onchain = evidence_records.onchain_evidence_at(ctx.deployment, row.record_id, row.chain_index)
    try:
        data = ev.open_envelope(_load(row), p.account, key,
                                expected_ciphertext_sha256=bytes.fromhex(onchain["ciphertext_sha256"][2:]),
                                expected_salted_plaintext_sha256=bytes.fromhex(onchain["salted_plaintext_sha256"][2:]))
    except ev.NotAReader as exc:
        raise Problem("not-a-reader", f"{exc}; the regulator re-wraps with POST /v1/regulator/records/{row.record_id}/evidence/rewrap") from None
    except ev.TamperedEnvelope as exc:
        raise Problem("evidence-tampered", str(exc)) from None
    return row, data


@router.get("/v1/evidence/{evidence_id}/content", response_class=Response,
            summary="Decrypted evidence for a custodial reader (checked against the chain)",
            responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "the original file"}})
async def get_content(evidence_id: int = Path(ge=1, le=MAX_EVIDENCE_ID), p: Principal = Depends(readers_only), ctx: AppContext = Depends(context)) -> Response:
    """Opens the envelope with the caller's custodial X25519 key after checking SHA-256(ciphertext)
    and, after decryption, SHA-256(salt ‖ plaintext) against EvidenceRegistry. Problems:
    no-custodial-key, not-a-reader, evidence-tampered."""
    row, data = await run_in_threadpool(_content, ctx, p, evidence_id)
    return Response(data, media_type="application/octet-stream",
                    headers={"Content-Disposition": _disposition(row.filename), "X-CL-Media-Type": row.media_type})


def _hash(ctx: AppContext, evidence_id: int) -> EvidenceHashOut:
    row = _row(ctx, evidence_id)
    onchain = evidence_records.onchain_evidence_at(ctx.deployment, row.record_id, row.chain_index)
    try:
        stored: str | None = "0x" + ev.Envelope.from_bytes((evidence_dir() / row.storage_name).read_bytes()).ciphertext_sha256.hex()
    except (OSError, ev.MalformedEnvelope):
        stored = None
    return EvidenceHashOut(id=row.id, record_id=row.record_id, index=row.chain_index, kind=onchain["kind"],
                           ciphertext_sha256=onchain["ciphertext_sha256"], salted_plaintext_sha256=onchain["salted_plaintext_sha256"],
                           attached_by=onchain["by"], attached_at=onchain["attached_at"], stored_ciphertext_sha256=stored,
                           stored_matches_chain=stored == onchain["ciphertext_sha256"], registry=ctx.deployment.evidence.address)


@public.get("/evidence/{evidence_id}/hash", response_model=EvidenceHashOut, summary="Anchored hashes of an evidence file (no authentication)")
async def get_hash(evidence_id: int = Path(ge=1, le=MAX_EVIDENCE_ID), ctx: AppContext = Depends(context)) -> EvidenceHashOut:
    """Anyone can check a file: SHA-256 of the envelope's ciphertext (the bytes after the header)
    must equal ``ciphertext_sha256``, read here from EvidenceRegistry, not from the API's store."""
    return await run_in_threadpool(_hash, ctx, evidence_id)


# --------------------------------------------------------------------------- re-wrap
def _rewrap(ctx: AppContext, p: Principal, record_id: int) -> RewrapOut:
    dep = ctx.deployment
    r = scoped_record(dep, p, record_id)
    readers = _readers(ctx, record_id, r)
    with Session(ctx.api_store) as s:
        rows = list(s.scalars(select(EvidenceFile).where(EvidenceFile.record_id == record_id).order_by(EvidenceFile.id)))
        for row in rows:
            s.expunge(row)
    out: list[EvidenceFile] = []
    holders: set[str] = set()
    now = int(time.time())
    for row in rows:
        env = _load(row)
        if row.ciphertext_sha256 != "0x" + env.ciphertext_sha256.hex():
            raise Problem("evidence-tampered", f"stored envelope of evidence {row.id} does not hash to its anchored value")
        holder = next((a for a in [p.account, *env.readers] if a in ctx.custodial and a in env.readers), None)
        key = evidence_records.custodial_encryption_key(dep.client, holder) if holder else None
        if holder is None or key is None:
            raise Problem("no-custodial-key", f"the API holds the key of no reader of evidence {row.id}")
        try:
            new = ev.rewrap(env, key, readers)
        except ev.NotAReader as exc:
            raise Problem("not-a-reader", f"evidence {row.id}: {exc}") from None
        except ev.TamperedEnvelope as exc:
            raise Problem("evidence-tampered", f"evidence {row.id}: {exc}") from None
        blob = new.to_bytes()
        _write_atomic(evidence_dir() / row.storage_name, blob)
        with Session(ctx.api_store) as s, s.begin():
            db = s.get(EvidenceFile, row.id)
            assert db is not None
            db.readers, db.envelope_bytes, db.rewrapped_at = json.dumps(new.readers), len(blob), now
            s.flush()
            s.expunge(db)
            out.append(db)
        holders.add(holder)
    return RewrapOut(record_id=record_id, holders=sorted(holders), readers=sorted(readers), items=[_out(x) for x in out])


@router.post("/v1/regulator/records/{record_id}/evidence/rewrap", response_model=RewrapOut,
             summary="Re-wrap a record's evidence keys for its current readers (e.g. a newly assigned verifier)")
async def post_rewrap(record_id: int = Path(ge=1, le=MAX_RECORD_ID), p: Principal = Depends(regulator), ctx: AppContext = Depends(context)) -> RewrapOut:
    """Makes every envelope of the record readable by exactly its current readers (enterprise
    accounts, assigned verifier, regulator accounts with registered keys) without re-upload: only
    the key table changes; SHA-256(ciphertext) on-chain stays. The data key is unwrapped with a
    custodial reader's key (the caller's if held). Problems: no-encryption-key, no-custodial-key,
    evidence-tampered, not-found."""
    return await run_in_threadpool(_rewrap, ctx, p, record_id)


# --------------------------------------------------------------------------- key registration
def _register(ctx: AppContext, p: Principal, body: EncryptionKeyIn) -> EncryptionKeyOut:
    dep = ctx.deployment
    sender = require_custodial(ctx, p.account)
    if body.public_key is not None:
        pub = bytes.fromhex(body.public_key[2:])
        if pub != bytes(32) and not ev.usable_public_key(pub):
            raise Problem("validation-error", "public_key: not a usable X25519 public key (low-order point)",
                          errors=[{"field": "body.public_key", "message": "low-order X25519 point"}])
    else:
        key = evidence_records.custodial_encryption_key(dep.client, sender)
        assert key is not None   # custodial accounts' keys are in the client
        pub = ev.public_key(key)
    res = dep.client.send([Call.of(dep.participants.functions.setEncryptionKey(pub), sender, "setEncryptionKey")])[0]
    return EncryptionKeyOut(account=sender, public_key="0x" + pub.hex(), tx_hash=res.tx_hash)


@router.post("/v1/evidence/encryption-key", response_model=EncryptionKeyOut,
             summary="Register the caller's X25519 evidence key in ParticipantRegistry")
async def post_encryption_key(body: EncryptionKeyIn, p: Principal = Depends(anyone_admitted),
                              ctx: AppContext = Depends(context)) -> EncryptionKeyOut:
    """Sends ``setEncryptionKey`` from the caller's custodial account: the given public key, or
    (no ``public_key``) the one derived from the caller's signing key, which the API can then use
    to open evidence for it. Problems: no-custodial-key, contract-refused (InvalidEncryptionKey)."""
    return await run_in_threadpool(_register, ctx, p, body)
