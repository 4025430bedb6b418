"""Typed HTTP client of the CarbonLedger API — used by ``carbonledger verify``, the demo's HTTP
cycle and tests.

One :class:`ApiClient` speaks for one identity: an API key (``Authorization: Bearer clk_…``) or
an account's own key, every request EIP-712 signed (:func:`ledger.crypto.requests.sign_request`).
Every error answer becomes one exception, :class:`ApiError`, carrying the RFC 9457 problem
document the API sent (``type``, ``title``, ``status``, ``detail`` and its extensions); a
transport failure is an :class:`ApiError` too, with ``status`` None.

The client is the HTTP :class:`ledger.verify.provenance.RecordSource` of the provenance check
(:meth:`ApiClient.record`, :meth:`~ApiClient.batches`, :meth:`~ApiClient.readings`,
:meth:`~ApiClient.evidence`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, TypedDict
from urllib.parse import quote

import httpx

from ledger.crypto.primitives import Signer
from ledger.crypto.requests import sign_request
from ledger.verify.provenance import ServedBatch, ServedEvidence, ServedReading

#: Items per page asked for by default: the largest page the API serves (api/pagination.py MAX_LIMIT).
DEFAULT_PAGE_LIMIT = 10_000


class RecordView(TypedDict, total=False):
    """A monthly emissions record as the API serves it (``EmissionsRegistry.record`` fields by
    name; bytes as 0x hex, ``status`` as a name: draft, submitted, verified, rejected, confirmed)."""

    record_id: int
    enterprise: str            # 0x org id
    activityType: int          # noqa: N815 — field names as on-chain
    source: int                # 1 = anchored meter data (batches), 2 = declared, 3 = anchored meter rounds
    source_name: str           # anchored_meter_data, declared or anchored_meter_rounds
    year: int
    month: int
    device: str                # 0x bytes32
    firstBatchIndex: int       # noqa: N815
    lastBatchIndex: int        # noqa: N815
    activityAmount: int        # noqa: N815 — Wh for purchased electricity
    factorSetId: int           # noqa: N815
    factorValue: int           # noqa: N815 — kgCO2/kWh × 1e4
    emissionsKg: int           # noqa: N815 — kgCO2
    status: str
    verifier: str              # address, zero when unassigned


class CheckView(TypedDict):
    """One row of a verdict (``status``: pass, fail or skip)."""

    name: str
    expected: str
    found: str
    status: str
    detail: str


class VerdictView(TypedDict, total=False):
    """The API's verdict on a record (:meth:`ledger.verify.provenance.Verdict.as_dict`)."""

    record_id: int
    checks: list[CheckView]
    batches: list[dict[str, Any]]
    recomputed_wh: int         # Wh
    recomputed_kg: int         # kgCO2
    factor_value: int          # kgCO2/kWh × 1e4
    passed: bool
    findings: list[str]
    report_hash: str           # 0x SHA-256
    findings_hash: str         # 0x SHA-256


class AlertView(TypedDict):
    """An early-warning alert as the API serves it (``ledger.alerts.store.alert_view``)."""

    id: int
    alert_hash: str            # 0x keccak256 of the alert's canonical JSON
    rule_id: str
    kind: str                  # absolute_threshold, intensity_threshold, same_period_deviation, …
    severity: str              # info, warning, critical
    subject: str               # enterprise:<USCC>, unit:<ORISPL>/<unit>
    period_start: str          # ISO 8601 UTC
    period_end: str
    measure: dict[str, Any]    # the measured value against the rule's limit (units in the keys)
    message: str
    evidence: dict[str, Any]   # records, batches, readings (sequences, period), file lines
    run: str
    created_at: int            # UTC s
    anchor_tx: str | None      # the EvidenceRegistry.anchorAlert transaction, once anchored
    anchored_at: int | None    # its block time, UTC s
    hash_ok: bool


class AlertRuleView(TypedDict):
    """A stored early-warning rule version (``ledger.alerts.store.rule_view``)."""

    id: int
    rule_id: str
    kind: str
    scope: str
    params: dict[str, Any]
    severity: str
    source: str
    set_by: str
    set_at: int
    active: bool


class ApiError(RuntimeError):
    """The API answered with an error status, or could not be reached.

    Attributes:
        method, path: the request.
        status: HTTP status, or None when the API could not be reached.
        problem: the RFC 9457 problem document (a dict; ``{"title": "unreachable", "detail": …}``
            when unreachable, ``{"detail": <body>}`` when the body was not JSON).
    """

    def __init__(self, method: str, path: str, status: int | None, problem: dict[str, Any]) -> None:
        self.method, self.path, self.status, self.problem = method, path, status, problem
        title, detail = problem.get("title", ""), problem.get("detail", "")
        super().__init__(f"{method} {path}: " + (f"HTTP {status} " if status is not None else "") + f"{title} {detail}".strip())

    @property
    def slug(self) -> str:
        """Last part of the problem ``type`` URI (e.g. ``"no-anchored-data"``), or ``""``."""
        return str(self.problem.get("type", "")).rstrip("/").rsplit("/", 1)[-1]


class ApiClient:
    """The CarbonLedger API over HTTP, for one identity.

    Args:
        base_url: e.g. ``http://127.0.0.1:8000``.
        api_key: a ``clk_…`` key; or
        signer: the account's :class:`ledger.crypto.primitives.Signer`, with ``chain_id`` (every
            request EIP-712 signed).
        timeout: seconds per request.
        page_limit: items per page asked for when listing.
        transport: optional httpx transport (tests).

    Raises:
        ValueError: neither or both credentials given, or a signer without ``chain_id``.
    """

    def __init__(self, base_url: str, *, api_key: str | None = None, signer: Signer | None = None,
                 chain_id: int | None = None, timeout: float = 120.0, page_limit: int = DEFAULT_PAGE_LIMIT,
                 transport: httpx.BaseTransport | None = None) -> None:
        if (api_key is None) == (signer is None):
            raise ValueError("give exactly one of api_key or signer")
        if signer is not None and chain_id is None:
            raise ValueError("signed requests need chain_id")
        self.base_url, self.api_key, self.signer, self.chain_id = base_url.rstrip("/"), api_key, signer, chain_id
        self.page_limit = page_limit
        kw: dict[str, Any] = {"transport": transport} if transport is not None else {}
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, **kw)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport
    def request(self, method: str, path: str, body: Any = None, *, idempotency_key: str | None = None) -> Any:
        """Send ``method path`` (path with its query) with JSON ``body`` and return the JSON answer.

        Raises:
            ApiError: an error status (with its problem document) or a transport failure.
        """
        raw = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        if self.signer is not None:
            assert self.chain_id is not None
            headers = sign_request(self.signer, self.chain_id, method, path, raw)
        else:
            headers = {"Authorization": f"Bearer {self.api_key}"}
        if body is not None:
            headers["content-type"] = "application/json"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        try:
            r = self.http.request(method, path, content=raw, headers=headers)
        except httpx.HTTPError as exc:
            raise ApiError(method, f"{self.base_url}{path}", None, {"title": "unreachable", "detail": str(exc)}) from None
        if r.status_code >= 400:
            try:
                problem = r.json()
                if not isinstance(problem, dict):
                    raise ValueError("not an object")
            except ValueError:
                problem = {"detail": r.text[:300]}
            raise ApiError(method, path, r.status_code, problem)
        return r.json()

    def get(self, path: str) -> Any:
        """GET ``path`` and return its JSON. Raises :class:`ApiError`."""
        return self.request("GET", path)

    def pages(self, path: str, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a cursor-paginated list (``items``, ``next_cursor``). Raises :class:`ApiError`."""
        cursor = None
        sep = "&" if "?" in path else "?"
        n = limit or self.page_limit
        while True:
            body = self.get(f"{path}{sep}limit={n}" + (f"&cursor={cursor}" if cursor else ""))
            yield from body["items"]
            cursor = body.get("next_cursor")
            if not cursor:
                return

    # ------------------------------------------------------------------ audit and verifier (RecordSource)
    def record(self, record_id: int) -> dict[str, Any]:
        """``GET /v1/audit/records/{id}``: record fields, factor set, batches with oracle signatures."""
        return dict(self.get(f"/v1/audit/records/{record_id}"))

    def batches(self, record_id: int) -> list[ServedBatch]:
        """``GET /v1/verifier/records/{id}/batches``: the anchored batches the record sums."""
        return list(self.get(f"/v1/verifier/records/{record_id}/batches")["items"])

    def readings(self, record_id: int) -> Iterator[ServedReading]:
        """``GET /v1/verifier/records/{id}/readings``, every page: readings with signatures and proofs."""
        return self.pages(f"/v1/verifier/records/{record_id}/readings")  # type: ignore[return-value]

    def evidence(self, record_id: int) -> list[ServedEvidence] | None:
        """``GET /v1/evidence?record_id=…`` (every page), or None if this API serves no evidence listing."""
        try:
            return list(self.pages(f"/v1/evidence?record_id={record_id}", limit=100))  # type: ignore[arg-type]
        except ApiError as exc:
            if exc.status in (404, 405):
                return None
            raise

    def server_verdict(self, record_id: int) -> VerdictView:
        """``GET /v1/verifier/records/{id}/verification``: the API's own verdict (same code)."""
        return self.get(f"/v1/verifier/records/{record_id}/verification")  # type: ignore[no-any-return]

    def assigned_records(self) -> Iterator[RecordView]:
        """``GET /v1/verifier/records``, every page: records assigned to the calling verifier."""
        return self.pages("/v1/verifier/records", limit=200)  # type: ignore[return-value]

    def post_verdict_transaction(self, record_id: int, raw_transaction: bytes) -> RecordView:
        """``POST /v1/verifier/records/{id}/verdict`` with the verifier's own signed ``attest`` /
        ``reject`` transaction; returns the record after it."""
        return self.request("POST", f"/v1/verifier/records/{record_id}/verdict",  # type: ignore[no-any-return]
                            {"raw_transaction": "0x" + raw_transaction.hex()})

    # ------------------------------------------------------------------ enterprise
    def enterprise_records(self) -> Iterator[RecordView]:
        """``GET /v1/enterprise/records``, every page: the calling enterprise's records."""
        return self.pages("/v1/enterprise/records", limit=200)  # type: ignore[return-value]

    def create_record(self, device: bytes, year: int, month: int, factor_set_id: int, *, submit: bool = False,
                      idempotency_key: str | None = None) -> RecordView:
        """``POST /v1/enterprise/records``: record month ``year-month`` of ``device`` (32 bytes)
        from its anchored batches with factor set ``factor_set_id`` (and submit it). Raises
        :class:`ApiError` (``no-anchored-data`` when the month has no anchored batch)."""
        return self.request("POST", "/v1/enterprise/records",  # type: ignore[no-any-return]
                            {"device": "0x" + device.hex(), "year": year, "month": month,
                             "factor_set_id": factor_set_id, "submit": submit},
                            idempotency_key=idempotency_key)

    def submit_record(self, record_id: int) -> RecordView:
        """``POST /v1/enterprise/records/{id}/submit``: submit a Draft record for verification."""
        return self.request("POST", f"/v1/enterprise/records/{record_id}/submit")  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ regulator
    def regulator_records(self, status: str | None = None) -> Iterator[RecordView]:
        """``GET /v1/regulator/records[?status=…]``, every page."""
        return self.pages("/v1/regulator/records" + (f"?status={status}" if status else ""), limit=200)  # type: ignore[return-value]

    def assign_verifier(self, record_id: int, verifier: str) -> RecordView:
        """``POST /v1/regulator/records/{id}/verifier``: assign ``verifier`` (account) to a submitted record."""
        return self.request("POST", f"/v1/regulator/records/{record_id}/verifier", {"verifier": verifier})  # type: ignore[no-any-return]

    def confirm_record(self, record_id: int) -> RecordView:
        """``POST /v1/regulator/records/{id}/confirm``: confirm a verified record."""
        return self.request("POST", f"/v1/regulator/records/{record_id}/confirm")  # type: ignore[no-any-return]

    def set_alert_rule(self, rule_id: str, kind: str, scope: str, params: dict[str, Any], *, severity: str = "warning",
                       source: str) -> AlertRuleView:
        """``POST /v1/regulator/alert-rules``: set an early-warning rule (ledger/alerts/rules.py); a
        new version replaces the active one of ``rule_id``. Raises :class:`ApiError`
        (``validation-error`` for a bad kind, scope or parameter)."""
        return self.request("POST", "/v1/regulator/alert-rules",  # type: ignore[no-any-return]
                            {"rule_id": rule_id, "kind": kind, "scope": scope, "params": params, "severity": severity,
                             "source": source})

    def alert_rules(self, *, all_versions: bool = False) -> Iterator[AlertRuleView]:
        """``GET /v1/regulator/alert-rules``, every page (active versions unless ``all_versions``)."""
        return self.pages("/v1/regulator/alert-rules" + ("?all_versions=true" if all_versions else ""),  # type: ignore[return-value]
                          limit=200)

    def alerts(self, *, rule_id: str | None = None, kind: str | None = None, severity: str | None = None,
               subject: str | None = None, limit: int = 200) -> Iterator[AlertView]:
        """``GET /v1/regulator/alerts``, every page, filtered; ``limit`` = items per page."""
        q = "&".join(f"{k}={quote(v, safe='')}" for k, v in (("rule_id", rule_id), ("kind", kind), ("severity", severity),
                                                            ("subject", subject)) if v is not None)
        return self.pages("/v1/regulator/alerts" + (f"?{q}" if q else ""), limit=limit)  # type: ignore[return-value]

    def alert(self, alert_id: int) -> AlertView:
        """``GET /v1/regulator/alerts/{id}``: one alert with its evidence."""
        return self.get(f"/v1/regulator/alerts/{alert_id}")  # type: ignore[no-any-return]

    def anchor_alert(self, alert_id: int) -> AlertView:
        """``POST /v1/regulator/alerts/{id}/anchor``: anchor the alert's hash (EvidenceRegistry.anchorAlert).
        Raises :class:`ApiError` (``contract-refused`` if it is anchored already)."""
        return self.request("POST", f"/v1/regulator/alerts/{alert_id}/anchor")  # type: ignore[no-any-return]
