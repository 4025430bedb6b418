"""The enterprise's carbon account page (碳账户, issue 13): ``/portal/enterprise/account?year=``.

Server-rendered like the other enterprise pages: the account built by
:func:`ledger.account.builder.build_account`, the emissions-by-month SVG chart of
:mod:`api.portal.chart`, times in the enterprise's local time (:mod:`api.portal.timefmt` filters),
every figure linked to its provenance (record pages, audit batches, serial ranges, tx hashes), and a
link to the PDF report (``GET /v1/enterprises/{org}/carbon-account.pdf``; the portal serves the
same bytes at ``/portal/enterprise/account.pdf`` for the session's enterprise).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.portal import session
from api.portal.chart import MonthBar, emissions_chart_svg
from api.portal.routes import _ctx, _render
from api.portal.timefmt import local_date
from ledger.account import builder
from ledger.account.report_pdf import account_pdf
from ledger.records import queries as records

router = APIRouter(prefix="/portal/enterprise", include_in_schema=False)
#: The chart's status colour for a month holding records of this account status (api/portal/chart.py palette).
_CHART_STATUS = {"rejected": "rejected", "draft": "draft", "in_review": "submitted"}


def month_bars(acc: dict[str, Any]) -> list[MonthBar]:
    """One bar per month with emissions (kgCO2, scope 1 + 2), and one for the annual records if any;
    coloured confirmed only when every kilogram of the bar is confirmed, else by its least advanced status."""
    out = []
    for m in acc["emissions"]["by_month"]:
        st = next((_CHART_STATUS[s] for s in _CHART_STATUS if m["kg"].get(s)), "confirmed")
        label = f"{acc['year']}-{m['month']:02d}" if m["month"] else f"{acc['year']} annual"
        out.append(MonthBar(label, int(m["total_kg"]), st))
    return out


def _default_year(request: Request, org_id: str, offset_s: int) -> int:
    years = {int(r["year"]) for r in records.iter_records(_ctx(request).deployment, enterprise=org_id)}
    return max(years) if years else int(local_date(time.time(), offset_s)[:4])


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, year: int | None = Query(None, ge=1971, le=9999)) -> HTMLResponse:
    """The session enterprise's carbon account of ``year`` (default: its newest reporting year)."""
    p = session.require(request, "ENTERPRISE_ROLE")
    dep = _ctx(request).deployment
    org = bytes.fromhex(p.org_id[2:])
    offset = int(dep.participants.organisation(org).utcOffsetSeconds)
    y = year if year is not None else _default_year(request, p.org_id, offset)
    acc = builder.build_account(dep, org, y)
    return _render(request, "enterprise_account.html", p, acc=acc, chart=emissions_chart_svg(month_bars(acc)),
                   pdf_url=f"/portal/enterprise/account.pdf?year={y}")


@router.get("/account.pdf")
def account_pdf_page(request: Request, year: int = Query(ge=1971, le=9999)) -> Response:
    """The PDF report of the session enterprise's account (the API route's bytes, for a browser session)."""
    p = session.require(request, "ENTERPRISE_ROLE")
    dep = _ctx(request).deployment
    pdf = account_pdf(builder.build_account(dep, bytes.fromhex(p.org_id[2:]), year))
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="carbon-account-{p.org_id[2:10]}-{year}.pdf"'})
