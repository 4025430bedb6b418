"""The carbon account as a multi-page PDF report (matplotlib's PdfPages, no pyplot state):

1. summary: the enterprise, the year, the headline figures and the compliance position;
2. charts: emissions by month stacked by record status (tCO2), and the compliance position
   (obligation against CEA and CCER surrendered, the CCER cap);
3. table pages: records, holdings, allowance issuance, CCER surrendered and retired, trades, deadlines;
4. provenance appendix: for every figure the record ids, anchored batch ids with Merkle roots,
   serial ranges and transaction hashes it rests on.

Text pages hold :data:`LINES_PER_PAGE` lines of monospace text; :func:`page_count` gives the
number of pages an account makes (the tests compare it with the PDF).
Times are shown in the enterprise's local time with its offset (``YYYY-MM-DD HH:MM +08:00``).
"""

from __future__ import annotations

import io
import warnings
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from matplotlib import font_manager
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

LINES_PER_PAGE = 60
A4 = (8.27, 11.69)
#: Bar colours per record status (the portal's palette, api/portal/chart.py).
STATUS_COLOURS = {"confirmed": "#2680c2", "in_review": "#f0b429", "draft": "#9aa5b1", "rejected": "#e12d39"}
_CJK = [f.name for f in font_manager.fontManager.ttflist if "CJK" in f.name]
_FONT = {"family": _CJK[0]} if _CJK else {"family": "DejaVu Sans Mono"}
_MONO = {"family": _CJK[0]} if _CJK else {"family": "DejaVu Sans Mono"}


def _t(kg: int | float) -> str:
    return f"{kg / 1000:,.3f}"


def _when(unix_s: int, offset_s: int) -> str:
    tz = timezone(timedelta(seconds=offset_s))
    t = datetime.fromtimestamp(unix_s, UTC).astimezone(tz)
    sign = "+" if offset_s >= 0 else "-"
    m = abs(offset_s) // 60
    return t.strftime("%Y-%m-%d %H:%M") + f" {sign}{m // 60:02d}:{m % 60:02d}"


def summary_lines(acc: dict[str, Any]) -> list[str]:
    """The headline figures of an account (see :func:`ledger.account.builder.build_account`)."""
    e, em, al, cc, tr, co = acc["enterprise"], acc["emissions"], acc["allowances"], acc["ccer"], acc["trades"], acc["compliance"]
    en = em["energy"]
    sd = em["scope2_dual"]
    tot = em["total_kg"]
    lines = [f"Enterprise   {e['name']}  ({e['org_id']})", f"Status       {e['status']}    UTC offset {_when(0, e['utc_offset_s'])[-6:]}",
             f"Year         {acc['year']}    as of block {acc['as_of_block']}", "",
             "EMISSIONS (tCO2, current records; location-based scope 2)",
             f"  scope 1 (fuel combustion)               {_t(tot['scope1']):>14}",
             f"  scope 2 (purchased electricity, heat)   {_t(tot['scope2']):>14}",
             f"  total                                   {_t(tot['scope1'] + tot['scope2']):>14}",
             f"  of which confirmed                      {_t(sum(s.get('confirmed', 0) for s in em['by_scope'].values())):>14}", "",
             "ENERGY",
             f"  purchased electricity MWh               {en['purchased_electricity_mwh']:>14,.3f}",
             f"  scope 2 purchased electricity (confirmed): location-based {_t(sd['location_kg'])} t, market-based "
             + (f"{_t(sd['market_kg'])} t ({sd['covered_wh'] / 10**6:,.3f} MWh covered by certificates)" if sd["market_kg"] is not None
                else f"not evaluable ({sd['note']})"),
             f"  energy consumed GJ                      {en['energy_total_gj']:>14,.3f}",
             "  intensity kgCO2/MWh supplied            " + (f"{en['intensity_kg_per_mwh_supplied']:>14,.3f}"
                                                             if en["intensity_kg_per_mwh_supplied"] is not None else "  not evaluable"), "",
             f"ALLOWANCES ({al['asset']}, tCO2e)",
             f"  pre-allocation {al['pre_allocation_t']}   final allocation {al['final_allocation_t']}   issued {al['issued_t']}   held {al['held_t']}", "",
             "CCER (tCO2e)",
             f"  held {cc['held_t']}   surrendered for {acc['year']} {cc['surrendered_t']}   retired {cc['retired_t']}", "",
             f"TRADES SETTLED   {len(tr['trades'])} trades, bought {tr['bought_t']} t, sold {tr['sold_t']} t, "
             f"paid {tr['paid_fen'] / 100:,.2f} yuan, received {tr['received_fen'] / 100:,.2f} yuan", "",
             "COMPLIANCE"]
    if co["opened"]:
        used = f"{co['ccer_cap_used'] * 100:.1f} %" if co["ccer_cap_used"] is not None else "-"
        lines += [f"  obligation {co['obligation_t']} t   surrendered {co['surrendered_t']} t (CEA {co['cea_surrendered_t']}, "
                  f"CCER {co['ccer_surrendered_t']})   shortfall {co['shortfall_t']} t   status {co['status']}",
                  f"  CCER cap {co['ccer_cap_t']} t ({co['ccer_cap_bps'] / 100:g} % of the obligation), used {used}",
                  f"  deadline {_when(co['deadline'], e['utc_offset_s'])}", f"    {co['deadline_citation'][:110]}"]
    else:
        lines.append(f"  {co['note']}")
    lines += ["", "GREEN CERTIFICATES   " + acc["green_certificates"]["note"], "NEUTRALITY CLAIMS    " + acc["neutrality_claims"]["note"]]
    return lines


def table_lines(acc: dict[str, Any]) -> list[str]:
    """The account's tables as text lines."""
    off = acc["enterprise"]["utc_offset_s"]
    em = acc["emissions"]
    out = ["RECORDS (current versions)", f"{'id':>5} {'month':>5}  {'activity type':<22} {'scope':<7} {'activity':>16} {'tCO2':>12}  status"]
    for r in em["records"]:
        out.append(f"{r['record_id']:>5} {r['month']:>5}  {r['activity_type']:<22} {r['scope'] or '-':<7} "
                   f"{r['activity_amount']:>13} {r['activity_unit']:<2} {_t(r['emissions_kg']):>12}  {r['status']}")
    if not em["records"]:
        out.append("  no record for this year")
    out += ["", "MONTHLY STATUS PER ENROLLED SOURCE (C confirmed, A assessed, R in review, - missing)"]
    short = {"confirmed": "C", "assessed": "A", "in_review": "R", "missing": "-"}
    for s in em["months"]:
        out.append(f"  {s['activity_type']:<22} {s['subject'][:18]}…  " + " ".join(short[c] for c in s["months"]))
    if not em["months"]:
        out.append("  no source enrolled")
    out += ["", "EMISSIONS BY SOURCE (tCO2)"]
    for s in em["by_source"]:
        out.append(f"  {s['activity_type']:<22} {s['subject'][:18]}…  {_t(s['total_kg']):>12}")
    out += ["", "HOLDINGS (tCO2e)"] + [f"  {h['asset']:<24} {h['quantity_t']:>10}" for h in acc["holdings"]]
    if not acc["holdings"]:
        out.append("  none")
    out += ["", "TRADES SETTLED", f"  {'settled at':<23} {'side':<5} {'asset':<16} {'t':>7} {'yuan/t':>10} {'yuan':>14}"]
    for t in acc["trades"]["trades"]:
        out.append(f"  {_when(t['settled_at'], off):<23} {t['side']:<5} {t['asset']:<16} {t['quantity_t']:>7} "
                   f"{t['price_fen'] / 100:>10,.2f} {t['value_fen'] / 100:>14,.2f}")
    if not acc["trades"]["trades"]:
        out.append("  none")
    out += ["", "DEADLINES (first second past the deadline; each source printed once)"]
    seen: set[str] = set()
    for d in acc["deadlines"]:
        out.append(f"  {_when(d['due'], off):<23} {d['what']}")
        if d["citation"] not in seen:
            seen.add(d["citation"])
            out.append(f"      {d['citation'][:120]}")
    return out


def appendix_lines(acc: dict[str, Any]) -> list[str]:
    """Provenance of every figure: records with batches (id, Merkle root) and transactions, allowance
    issuance, CCER serial ranges, trades and surrenders with their transaction hashes."""
    out = ["PROVENANCE APPENDIX", "Records (audit: GET /v1/audit/records/{id}; batches: GET /v1/audit/batches/{id})"]
    for r in acc["emissions"]["records"]:
        p = r["provenance"]
        out.append(f"record {r['record_id']}: recorded tx {p.get('recorded_tx', '-')}")
        if p.get("confirmed_tx"):
            out.append(f"    confirmed tx {p['confirmed_tx']}")
        for b in p["batches"]:
            out.append(f"    batch {b['batch_id']} root {b['root']} ({b['total_wh']} Wh, {b['readings']} readings)")
    out += ["", f"Allowance issuance ({acc['allowances']['asset']})"]
    out += [f"  {i['amount_t']} t to {i['to']}  tx {i['tx_hash']}" for i in acc["allowances"]["issued"]] or ["  none"]
    out += ["", "CCER surrendered"]
    out += [f"  {s['amount_t']} t {s['asset']} batch {s['batch_id']} serials {s['serials'] or '-'}  tx {s['tx_hash']}"
            for s in acc["ccer"]["surrendered"]] or ["  none"]
    out += ["", "CCER retired (certificates)"]
    out += [f"  certificate {c['certificate_id']}: {c['amount_t']} t {c['asset']} serials {c['serials'] or '-'}  tx {c['tx_hash']}"
            for c in acc["ccer"]["retired"]] or ["  none"]
    gec = acc["green_certificates"]
    out += ["", "Green certificates retired (1 certificate = 1 MWh; market-based scope 2 only)"]
    out += [f"  retirement {g['retirement_id']}: {g['mwh']} MWh for {g['period']}, issuance {g['issuance_id']} serials "
            f"{g['first_serial']}-{g['last_serial']} ({g['technology']}, vintage {g['vintage']})  tx {g['tx_hash']}"
            for g in gec["items"]] or ["  none"]
    out += ["", "Neutrality claims (public page /portal/claims/{id})"]
    out += [f"  claim {c['claim_id']}: {c['standard']} {c['status']}, {_t(c['emissions_kg'])} tCO2 (floor {_t(c['confirmed_kg'])}, "
            f"scope 2 {c['scope2_basis']}), backed by {c['retired_t']} t "
            f"(certificates {', '.join(str(x['certificate_id']) for x in c['retirements'])})"
            for c in acc["neutrality_claims"]["items"]] or ["  none"]
    out += ["", "Compliance surrenders"]
    out += [f"  {s['amount_t']} t {s['asset']}{' (late)' if s['late'] else ''}  tx {s['tx_hash']}"
            for s in acc["compliance"].get("surrenders", [])] or ["  none"]
    out += ["", "Trades settled"]
    out += [f"  trade {t['trade_id']}  tx {t['tx_hash']}" for t in acc["trades"]["trades"]] or ["  none"]
    return out


def _chunks(lines: list[str]) -> list[list[str]]:
    return [lines[i:i + LINES_PER_PAGE] for i in range(0, len(lines), LINES_PER_PAGE)] or [[]]


def page_count(acc: dict[str, Any]) -> int:
    """Pages of :func:`account_pdf` for ``acc``: summary, charts, table pages, appendix pages."""
    return 2 + len(_chunks(table_lines(acc))) + len(_chunks(appendix_lines(acc)))


def _text_page(pdf: PdfPages, title: str, lines: list[str], page: int) -> None:
    fig = Figure(figsize=A4)
    fig.text(0.06, 0.965, title, fontsize=11, weight="bold", fontdict=_FONT)
    for i, line in enumerate(lines):
        fig.text(0.06, 0.94 - i * 0.0148, line[:140], fontsize=6.5, fontdict=_MONO)
    fig.text(0.94, 0.02, f"page {page}", fontsize=7, ha="right")
    pdf.savefig(fig)


def _chart_page(pdf: PdfPages, acc: dict[str, Any], page: int) -> None:
    fig = Figure(figsize=A4)
    ax1, ax2 = fig.subplots(2, 1, gridspec_kw={"hspace": 0.35})
    months = acc["emissions"]["by_month"]
    x = [m["month"] for m in months]
    bottom = [0.0] * len(months)
    for st, colour in STATUS_COLOURS.items():
        vals = [m["kg"].get(st, 0) / 1000 for m in months]
        if any(vals):
            ax1.bar(x, vals, bottom=bottom, color=colour, label=st)
            bottom = [b + v for b, v in zip(bottom, vals)]
    ax1.set_xticks(x, ["annual" if m == 0 else str(m) for m in x])
    ax1.set_xlabel(f"month of {acc['year']}")
    ax1.set_ylabel("tCO2")
    ax1.set_title("Emissions by month (scope 1 + 2, by record status)")
    if any(bottom):
        ax1.legend(fontsize=8)
    else:
        ax1.text(6.5, 0.5, "no record for this year", ha="center")
    co = acc["compliance"]
    if co["opened"]:
        labels = ["obligation", "CEA surrendered", "CCER surrendered", "CCER cap", "shortfall"]
        vals = [co["obligation_t"], co["cea_surrendered_t"], co["ccer_surrendered_t"], co["ccer_cap_t"], co["shortfall_t"]]
        ax2.barh(labels, vals, color=["#52606d", "#2680c2", "#3ebd93", "#9aa5b1", "#e12d39"])
        ax2.set_xlabel("tCO2e")
        ax2.set_title(f"Compliance position {acc['year']} ({co['status']})")
        ax2.invert_yaxis()
    else:
        ax2.set_axis_off()
        ax2.text(0.5, 0.5, co["note"], ha="center", transform=ax2.transAxes)
    fig.text(0.94, 0.02, f"page {page}", fontsize=7, ha="right")
    pdf.savefig(fig)


def account_pdf(acc: dict[str, Any]) -> bytes:
    """The account (a :func:`ledger.account.builder.build_account` dict) as PDF bytes of
    :func:`page_count` pages."""
    buf = io.BytesIO()
    e = acc["enterprise"]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")   # CJK names without a CJK font installed
        with PdfPages(buf, metadata={"Title": f"Carbon account {e['name']} {acc['year']}", "Creator": "CarbonLedger"}) as pdf:
            _text_page(pdf, f"Carbon account 碳账户 — {e['name']} — {acc['year']}", summary_lines(acc), 1)
            _chart_page(pdf, acc, 2)
            n = 3
            for chunk in _chunks(table_lines(acc)):
                _text_page(pdf, "Tables", chunk, n)
                n += 1
            for chunk in _chunks(appendix_lines(acc)):
                _text_page(pdf, "Provenance appendix", chunk, n)
                n += 1
    return buf.getvalue()
