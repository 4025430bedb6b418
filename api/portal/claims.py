"""The public verification page of a carbon-neutrality claim: ``/portal/claims/{id}`` (no login).

Everything on it is read from the chain when the page is served (:func:`ledger.offsets.claims.read_claim`,
all values at one block): the claim, its standard, its period and times in the claimant's local time
with its UTC offset (the organisation's ``utcOffsetSeconds``, :mod:`api.portal.timefmt`), the
emissions with links to the records' provenance, the CCER retirements with serial ranges and
beneficiaries, the status, and the block the page was verified at — never stored text.
"""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from api.portal.routes import _ctx, templates
from api.portal.timefmt import offset_label
from ledger.offsets import claims

router = APIRouter(prefix="/portal", include_in_schema=False)


@router.get("/claims/{claim_id}", response_class=HTMLResponse)
def claim_page(request: Request, claim_id: int = Path(ge=1, le=2**63)) -> HTMLResponse:
    """Claim ``claim_id`` as the chain holds it now; a 404 page for an unknown id."""
    dep = _ctx(request).deployment
    try:
        v = claims.read_claim(dep, claim_id)
    except claims.UnknownClaim as exc:
        return templates.TemplateResponse(request, "error.html", {"principal": None, "csrf": "", "flash": None,
                                                                  "error": str(exc), "tz_offset": 0, "tz_label": "+00:00"},
                                          status_code=404)
    org = dep.participants.organisation(bytes.fromhex(v.claimant[2:]))
    tz = int(org.utcOffsetSeconds)
    return templates.TemplateResponse(request, "claim.html", {
        "principal": None, "csrf": "", "flash": None, "tz_offset": tz, "tz_label": offset_label(tz), "c": v,
        "uscc": bytes(org.uscc).rstrip(b"\0").decode(errors="replace"), "title": claims.STANDARD_TITLES[v.standard],
        "covered_kg": v.retired_t * claims.KG_PER_UNIT, "chain_id": dep.client.chain_id, "contract": dep.claims.address})
