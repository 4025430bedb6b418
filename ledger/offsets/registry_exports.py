"""Typed loaders for real offset-registry exports and their reconciliation with ``projects.csv``.

The files (``../shared/data/offsets_registry/``, see its PROVENANCE.md: Berkeley Carbon Trading
Project, Voluntary Registry Offsets Database, 2021-04, via hyperledger-labs/blockchain-carbon-
accounting @ a53185cf ``open-offsets-directory/data/``):

====================  =====================================================================
file                  one row is …
====================  =====================================================================
ACR_issuances.csv     one issuance of one vintage; ``Total Credits Issued`` = to project +
                      to buffer pool; no serial numbers
CAR_issuances.csv     one issuance of one vintage; ``Total Offset Credits Issued`` plus how
                      many of them sit in buffer pools, were converted to VCUs, canceled for
                      ARB compliance or canceled; no serial numbers
VCS_issuances.csv     one issuance of one vintage (``Credits Issued``); no serial numbers
GOLD_issuances.csv    one issuance of one vintage with its serial range. ``Credit Status``
                      is ``Issued`` on every row of this export (no retired rows exist);
                      ``Product Type`` is VER, CER (CDM-style serials) or PER (*planned*
                      emission reductions, ex-ante, vintages up to 2060)
ACR/CAR_retirements   one retirement with its serial range, account holder and reason
projects.csv          one project: total issued / retired / remaining, ``PERs``, ARB flags
====================  =====================================================================

Every loader keeps the file's 1-based line number of the row's first line (the header is line
1; a multi-line header is counted as its real lines) and never drops a row silently: a row that
does not parse becomes a :class:`Refusal` with the reason. Quantities are whole tCO2e (1 credit =
1 tCO2e).

Serial ranges (:func:`parse_serial_range`):

* ACR ``ACR-US-102-2003-274-120158095 to 120158156`` and CAR
  ``CAR-1-US-1008-27-845-WA-2015-2010-1 to 8645``: ``<prefix><start> to <end>``; the prefix
  carries the project number and the vintage, which must agree with the row's columns.
* GOLD standard serials ``GS1-1-TW-GS1001-12-2019-20258-1-161285``: the last two fields are the
  start and the end; the project field must equal ``GSID`` and the vintage field ``Vintage``.
* GOLD CDM-style serials (CER rows) ``RW-5-1568504-2-2-0-6207 - RW-5-1587978-2-2-0-6207``: two
  full serials whose only differing number is the block number. Cosmetic damage in the export is
  repaired and nothing else: mojibake of a no-break space (``Â\\xa0``) and of an en dash
  (``â€“``), stray spaces inside a serial (``-648 4``), and a missing space around the ``-``
  separator. Two ends that differ in anything but the block number (``N-5-…`` vs ``IN-5-…``,
  ``IN-255171762-…`` vs ``IN-5-…``), a start after the end, or a range whose size is not the
  row's quantity, refuse the row.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Generic, TypeVar

from ledger.offsets.serials import SerialBook, SerialRange

REGISTRIES: tuple[str, ...] = ("ACR", "CAR", "GOLD", "VCS")
#: Registries whose exports include retirement files (the issue: no VCS or GOLD retirements).
RETIREMENT_REGISTRIES: tuple[str, ...] = ("ACR", "CAR")
#: Project-id prefix of each registry in every file ("ACR102", "CAR1008", "GS1001", "VCS1").
PROJECT_PREFIX = {"ACR": "ACR", "CAR": "CAR", "GOLD": "GS", "VCS": "VCS"}

T = TypeVar("T")


class ExportFormatError(ValueError):
    """A whole file cannot be read (missing file or required column); rows are never the cause."""


class RowError(ValueError):
    """One row does not parse; the message is the refusal reason."""


# --------------------------------------------------------------------------------------------
# records


@dataclass(frozen=True)
class RowRef:
    """Where a row of an export stands: the registry, the export file and the 1-based data row
    (header excluded)."""

    registry: str
    file: str
    row: int


@dataclass(frozen=True)
class Refusal(RowRef):
    """A row that is not loaded (or not replayed), with the reason.

    ``quantity`` (tCO2e) and ``project_id`` are filled when they could still be read, so the
    reconciliation can say how much a refusal removes from a project's totals.
    """

    reason: str
    project_id: str | None = None
    quantity: int | None = None
    kind: str = "issuance"  # "issuance" | "retirement" | "cancellation" | "project"

    def as_json(self) -> dict[str, object]:
        return {
            "row": f"{self.file}:{self.row}",
            "reason": self.reason,
            "project": self.project_id,
            "quantity_t": self.quantity,
        }


@dataclass(frozen=True)
class ExportRow(RowRef):
    """What every issuance and retirement row names besides where it stands: the project and
    vintage, and the quantity."""

    project_id: str
    project_name: str
    vintage: int
    quantity: int
    """tCO2e (1 credit = 1 tCO2e)."""


@dataclass(frozen=True)
class Issuance(ExportRow):
    """One issuance row: ``quantity`` tCO2e of ``vintage`` issued to ``project_id`` on ``issued_on``.

    Breakdown fields are tCO2e included in ``quantity`` (0 when the export has no such column):
    ``buffer`` (ACR to buffer pool; CAR currently in reserve buffer pool + intended for the ARB
    buffer pool), ``converted_to_vcus``, ``canceled_for_arb`` and ``canceled`` (CAR only).
    ``product`` is the GOLD product type (VER, CER, PER), else "".
    """

    issued_on: date
    serial: SerialRange | None = None
    product: str = ""
    developer: str = ""
    country: str = ""
    buffer: int = 0
    converted_to_vcus: int = 0
    canceled_for_arb: int = 0
    canceled: int = 0

    @property
    def is_planned(self) -> bool:
        """A GOLD PER row: planned (ex-ante) reductions, not verified ones."""
        return self.product == "PER"


@dataclass(frozen=True)
class Retirement(ExportRow):
    """One retirement row: ``quantity`` tCO2e of ``project_id``/``vintage`` in ``serial`` retired
    on ``effective_on`` by ``account_holder`` for ``reason`` (``details``)."""

    serial: SerialRange
    effective_on: date
    account_holder: str
    reason: str
    details: str


@dataclass(frozen=True)
class ProjectTotals:
    """One projects.csv row (totals in tCO2e)."""

    row: int
    project_id: str
    registry: str
    name: str
    issued: int
    retired: int
    remaining: int
    pers: int
    arb_project: bool
    data_source: str  # column "Registry / ARB": ACR, CAR, GOLD, VCS or ARB
    status: str
    notes_registry: str = ""
    notes_berkeley: str = ""
    methodology: str = ""
    country: str = ""
    #: "Project Registered" when it is a date (most rows leave it empty), else None
    registered_on: date | None = None
    #: "First Year of Project" when given, else None
    first_year: int | None = None


@dataclass
class Loaded(Generic[T]):
    """Rows of one file that parsed, and those that did not."""

    file: str
    rows: list[T] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# field parsers


_INT = re.compile(r"\d+")
_THOUSANDS = re.compile(r"\d{1,3}(,\d{3})+")
_SCI = re.compile(r"(\d+(?:\.\d+)?)[eE]\+?(\d+)")


def parse_quantity(text: str, *, column: str = "quantity", optional: bool = False) -> int:
    """Whole tCO2e from ``text``: ``1234``, ``1,234``, `` \\t853 `` or ``2.85E+07`` (integral).

    Args:
        optional: an empty cell is 0 instead of an error.

    Raises:
        RowError: empty (unless optional), negative, fractional, or not a number.
    """
    s = text.strip()
    if not s:
        if optional:
            return 0
        raise RowError(f"{column} is empty")
    if _INT.fullmatch(s):
        return int(s)
    if _THOUSANDS.fullmatch(s):
        return int(s.replace(",", ""))
    m = _SCI.fullmatch(s)
    if m:
        mant, exp = m.group(1), int(m.group(2))
        whole, _, frac = mant.partition(".")
        if len(frac) > exp or frac[exp:].strip("0"):
            raise RowError(f"{column} {text!r} is not a whole number of tCO2e")
        return int(whole + frac.ljust(exp, "0"))
    raise RowError(f"{column} {text!r} is not a whole non-negative number of tCO2e")


_MDY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})")
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def parse_date(text: str, *, column: str = "date") -> date:
    """A date written ``8/2/06``, ``03/19/2009`` (US month first) or ``2020-11-17``.

    Two-digit years are 20yy: every date in these exports lies in 2004–2021 and the database
    starts in 1996 (projects.csv columns), so 19yy never occurs as a two-digit year.

    Raises:
        RowError: another format, or no such calendar day (e.g. ``2/30/19``).
    """
    s = text.strip()
    if m := _ISO.fullmatch(s):
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    elif m := _MDY.fullmatch(s):
        mo, d, yy = int(m.group(1)), int(m.group(2)), m.group(3)
        y = int(yy) if len(yy) == 4 else 2000 + int(yy)
    else:
        raise RowError(f"{column} {text!r} is not m/d/yy, mm/dd/yyyy or yyyy-mm-dd")
    try:
        return date(y, mo, d)
    except ValueError as e:
        raise RowError(f"{column} {text!r} is not a calendar date ({e})") from None


def parse_year(text: str, *, column: str) -> int:
    """A four-digit year (vintages run to 2060 in GOLD PER rows)."""
    s = text.strip()
    if not re.fullmatch(r"\d{4}", s) or not 1900 <= int(s) <= 2100:
        raise RowError(f"{column} {text!r} is not a four-digit year")
    return int(s)


# --------------------------------------------------------------------------------------------
# serial ranges


_TO_RANGE = re.compile(r"(?P<prefix>\S*?-)(?P<start>\d+) to (?P<end>\d+)")
_GS_SERIAL = re.compile(
    r"GS1-1-(?P<country>[A-Z]{2})-(?:GS)?(?P<project>\d+)-(?P<type>\d+)-(?P<vintage>\d{4})"
    r"-(?P<batch>\d+)-(?P<start>\d+)-(?P<end>\d+)"
)
_TWO_ENDS = re.compile(r"(?P<a>[A-Z]*-?[\d-]*?\d)(?:-|to)(?P<b>[A-Z]*-?[\d-]*\d)")
_MOJIBAKE = {
    "Â\xa0": " ",  # UTF-8 no-break space read as cp1252 and re-encoded
    "\xa0": " ",
    "â€“": "-",  # en dash, same accident
    "–": "-",
    "—": "-",
}


def _clean_serial_text(text: str) -> str:
    s = unicodedata.normalize("NFC", text)
    for bad, good in _MOJIBAKE.items():
        s = s.replace(bad, good)
    return s.strip()


def parse_serial_range(text: str, *, quantity: int | None = None) -> SerialRange:
    """Parse a serial range written in any of the exports' forms (module docstring).

    Args:
        quantity: when given, the range must hold exactly this many credits.

    Raises:
        RowError: unreadable, ends that differ beyond the serial number, start > end, or a size
            different from ``quantity``.
    """
    s = _clean_serial_text(text)
    if not s:
        raise RowError("serial number is empty")
    rng: SerialRange | None = None
    if m := _TO_RANGE.fullmatch(s):
        rng = SerialRange(m.group("prefix"), int(m.group("start")), int(m.group("end")))
    elif m := _GS_SERIAL.fullmatch(s):
        prefix = s[: m.start("start")]
        rng = SerialRange(prefix, int(m.group("start")), int(m.group("end")))
    else:
        compact = re.sub(r"\s+", "", s)
        m = _TWO_ENDS.fullmatch(compact)
        if not m:
            raise RowError(f"serial number {text!r} is not a recognised serial range")
        rng = _range_from_two_ends(text, m.group("a"), m.group("b"))
    if rng.start > rng.end:
        raise RowError(f"serial range {text!r} starts ({rng.start}) after it ends ({rng.end})")
    if quantity is not None and rng.count != quantity:
        raise RowError(
            f"serial range {text!r} holds {rng.count} credits but the row's quantity is {quantity}"
        )
    return rng


def _range_from_two_ends(text: str, a: str, b: str) -> SerialRange:
    ta, tb = re.findall(r"\d+|\D+", a), re.findall(r"\d+|\D+", b)
    if len(ta) != len(tb):
        raise RowError(f"serial range {text!r}: the two ends differ beyond the serial number")
    diff = [i for i, (x, y) in enumerate(zip(ta, tb, strict=True)) if x != y]
    if len(diff) > 1 or any(not ta[i].isdigit() for i in diff):
        raise RowError(f"serial range {text!r}: the two ends differ beyond the serial number")
    if not diff:
        # one credit: the block number is the third field of a CDM serial (XX-5-<n>-…) or the
        # whole of a bare number
        digits = [i for i, t in enumerate(ta) if t.isdigit()]
        if len(ta) == 1:
            i = 0
        elif re.fullmatch(r"[A-Z]{1,3}-\d+-\d+(-\d+)*", a) and len(digits) >= 2:
            i = digits[1]
        else:
            raise RowError(f"serial range {text!r}: cannot tell which number is the serial")
        diff = [i]
    i = diff[0]
    return SerialRange("".join(ta[:i]), int(ta[i]), int(tb[i]), "".join(ta[i + 1 :]))


def find_overlaps(items: Iterable[tuple[T, SerialRange]]) -> list[tuple[T, T]]:
    """Pairs ``(earlier, later)`` of items whose ranges overlap, in input order of ``later``.

    The rule is the contract's: ranges of one series may not share a serial. ``earlier`` is the
    first item already holding an overlapping range; each later item is reported once.
    """
    by_series: dict[str, list[tuple[int, int, T]]] = defaultdict(list)
    out: list[tuple[T, T]] = []
    for item, r in items:
        taken = by_series[r.series]
        hit = next((t for s, e, t in taken if s <= r.end and r.start <= e), None)
        if hit is not None:
            out.append((hit, item))
        else:
            taken.append((r.start, r.end, item))
    return out


# --------------------------------------------------------------------------------------------
# csv reading


def _norm_header(h: str) -> str:
    return " ".join(h.split())


def _read_csv(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number of the row's first line, row by normalised header)."""
    if not path.is_file():
        raise ExportFormatError(f"{path} does not exist")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        try:
            header = [_norm_header(h) for h in next(reader)]
        except StopIteration:
            raise ExportFormatError(f"{path} is empty") from None
        line = reader.line_num + 1
        for cells in reader:
            if len(cells) != len(header):
                yield line, {"__cells__": str(len(cells)), "__expected__": str(len(header))}
            else:
                yield line, dict(zip(header, cells, strict=True))
            line = reader.line_num + 1


def _require(path: Path, columns: Sequence[str]) -> None:
    with path.open(newline="", encoding="utf-8") as fh:
        header = {_norm_header(h) for h in next(csv.reader(fh), [])}
    missing = [c for c in columns if c not in header]
    if missing:
        raise ExportFormatError(f"{path.name} lacks column(s) {missing}")


def _load(
    path: Path,
    registry: str,
    kind: str,
    columns: Sequence[str],
    parse: Callable[[int, dict[str, str]], T],
    id_column: str,
    qty_column: str,
) -> Loaded[T]:
    if not path.is_file():
        raise ExportFormatError(f"{path} does not exist")
    _require(path, columns)
    out: Loaded[T] = Loaded(path.name)
    for line, row in _read_csv(path):
        if "__cells__" in row:
            out.refused.append(
                Refusal(registry, path.name, line,
                        f"row has {row['__cells__']} cells, header has {row['__expected__']}",
                        kind=kind)
            )
            continue
        try:
            out.rows.append(parse(line, row))
        except RowError as e:
            try:
                qty: int | None = parse_quantity(row.get(qty_column, ""))
            except RowError:
                qty = None
            pid = row.get(id_column, "").strip() or None
            if registry == "VCS" and pid and pid.isdigit():
                pid = f"VCS{pid}"
            out.refused.append(Refusal(registry, path.name, line, str(e), pid, qty, kind))
    return out


def _project_id(text: str, registry: str, column: str = "Project ID") -> str:
    s = text.strip()
    prefix = PROJECT_PREFIX[registry]
    if not re.fullmatch(rf"{prefix}\d+", s):
        raise RowError(f"{column} {text!r} is not a {registry} project id ({prefix}<number>)")
    return s


# --------------------------------------------------------------------------------------------
# issuance loaders

ACR_ISSUANCE_COLUMNS = (
    "Date Issued", "Project ID", "Project Name", "Project Developer", "Vintage",
    "Issuance Year", "Total Credits Issued", "Credits Issued to Project",
    "Credits Issued to Buffer Pool", "Project Site Country",
)
CAR_ISSUANCE_COLUMNS = (
    "Date Issued", "Project ID", "Project Name", "Project Developer", "Vintage", "Issuance Year",
    "Total Offset Credits Issued", "Offset Credits Currently in Reserve Buffer Pool",
    "Offset Credits Intended for ARB Buffer Pool", "Offset Credits Converted to VCUs",
    "Canceled for ARB Compliance", "Canceled", "Project Site Country",
)
GOLD_ISSUANCE_COLUMNS = (
    "Project ID", "GSID", "Vintage", "Issuance Year", "Credit Status", "Quantity",
    "Project Name", "Project Developer", "Product Type", "Country", "Issuance Date",
    "Serial Number",
)
VCS_ISSUANCE_COLUMNS = (
    "Unique Vintages", "Project ID", "VCS + ID", "Vintage Year", "Issuance Date",
    "Issuance Year", "Project Name", "Credits Issued",
)


def _check_year(d: date, text: str, column: str) -> None:
    if d.year != parse_year(text, column=column):
        raise RowError(f"{column} {text.strip()} is not the year of the date {d.isoformat()}")


def _issued_quantity(r: dict[str, str], column: str) -> int:
    """The row's issued tCO2e from ``column``; RowError if unreadable or 0 (nothing was issued)."""
    qty = parse_quantity(r[column], column=column)
    if qty == 0:
        raise RowError(f"{column} is 0: nothing was issued")
    return qty


def _issued_on(r: dict[str, str], column: str) -> date:
    """The row's issuance date from ``column``, checked against its ``Issuance Year``."""
    issued_on = parse_date(r[column], column=column)
    _check_year(issued_on, r["Issuance Year"], "Issuance Year")
    return issued_on


def _optional_quantities(r: dict[str, str], *columns: str) -> dict[str, int]:
    """tCO2e of each of ``columns`` (blank = 0), in the order given."""
    return {c: parse_quantity(r[c], column=c, optional=True) for c in columns}


def _acr_issuance(file: str) -> Callable[[int, dict[str, str]], Issuance]:
    def parse(line: int, r: dict[str, str]) -> Issuance:
        pid = _project_id(r["Project ID"], "ACR")
        issued_on = _issued_on(r, "Date Issued")
        total = _issued_quantity(r, "Total Credits Issued")
        to_project, buffer = _optional_quantities(r, "Credits Issued to Project",
                                                  "Credits Issued to Buffer Pool").values()
        if to_project + buffer != total:
            raise RowError(
                f"Total Credits Issued {total} ≠ to project {to_project} + to buffer pool {buffer}"
            )
        return Issuance("ACR", file, line, pid, r["Project Name"].strip(),
                        parse_year(r["Vintage"], column="Vintage"), total, issued_on,
                        developer=r["Project Developer"].strip(),
                        country=r["Project Site Country"].strip(), buffer=buffer)
    return parse


def _car_issuance(file: str) -> Callable[[int, dict[str, str]], Issuance]:
    def parse(line: int, r: dict[str, str]) -> Issuance:
        pid = _project_id(r["Project ID"], "CAR")
        issued_on = _issued_on(r, "Date Issued")
        total = _issued_quantity(r, "Total Offset Credits Issued")
        part = _optional_quantities(r, "Offset Credits Currently in Reserve Buffer Pool",
                                    "Offset Credits Intended for ARB Buffer Pool",
                                    "Offset Credits Converted to VCUs", "Canceled for ARB Compliance", "Canceled")
        if sum(part.values()) > total:
            raise RowError(f"buffer, converted and canceled credits ({sum(part.values())}) "
                           f"exceed Total Offset Credits Issued ({total})")
        return Issuance(
            "CAR", file, line, pid, r["Project Name"].strip(),
            parse_year(r["Vintage"], column="Vintage"), total, issued_on,
            developer=r["Project Developer"].strip(), country=r["Project Site Country"].strip(),
            buffer=part["Offset Credits Currently in Reserve Buffer Pool"]
            + part["Offset Credits Intended for ARB Buffer Pool"],
            converted_to_vcus=part["Offset Credits Converted to VCUs"],
            canceled_for_arb=part["Canceled for ARB Compliance"],
            canceled=part["Canceled"],
        )
    return parse


def _gold_issuance(file: str) -> Callable[[int, dict[str, str]], Issuance]:
    def parse(line: int, r: dict[str, str]) -> Issuance:
        pid = _project_id(r["Project ID"], "GOLD")
        if pid != f"GS{r['GSID'].strip()}":
            raise RowError(f"Project ID {pid} does not match GSID {r['GSID']!r}")
        status = r["Credit Status"].strip()
        if status != "Issued":
            raise RowError(f"Credit Status {status!r} is not an issuance (only 'Issued' rows are)")
        product = r["Product Type"].strip()
        if product not in ("VER", "CER", "PER"):
            raise RowError(f"Product Type {product!r} is not VER, CER or PER")
        vintage = parse_year(r["Vintage"], column="Vintage")
        qty = _issued_quantity(r, "Quantity")
        issued_on = _issued_on(r, "Issuance Date")
        serial = parse_serial_range(r["Serial Number"], quantity=qty)
        if m := _GS_SERIAL.fullmatch(_clean_serial_text(r["Serial Number"])):
            if int(m.group("project")) != int(r["GSID"]):
                raise RowError(f"serial {r['Serial Number']!r} names project "
                               f"{m.group('project')}, the row GSID {r['GSID']}")
            if int(m.group("vintage")) != vintage:
                raise RowError(f"serial {r['Serial Number']!r} names vintage "
                               f"{m.group('vintage')}, the row {vintage}")
        return Issuance("GOLD", file, line, pid, r["Project Name"].strip(), vintage, qty,
                        issued_on, serial=serial, product=product,
                        developer=r["Project Developer"].strip(), country=r["Country"].strip())
    return parse


def _vcs_issuance(file: str) -> Callable[[int, dict[str, str]], Issuance]:
    def parse(line: int, r: dict[str, str]) -> Issuance:
        num = r["Project ID"].strip()
        if not num.isdigit():
            raise RowError(f"Project ID {r['Project ID']!r} is not a VCS project number")
        pid = f"VCS{num}"
        if r["VCS + ID"].strip() != pid:
            raise RowError(f"VCS + ID {r['VCS + ID']!r} does not match Project ID {num}")
        vintage = parse_year(r["Vintage Year"], column="Vintage Year")
        qty = _issued_quantity(r, "Credits Issued")
        if r["Unique Vintages"].strip() != f"{num}-{vintage}-{qty}":
            raise RowError(f"Unique Vintages {r['Unique Vintages']!r} disagrees with project "
                           f"{num}, vintage {vintage}, quantity {qty}")
        issued_on = _issued_on(r, "Issuance Date")
        return Issuance("VCS", file, line, pid, r["Project Name"].strip(), vintage, qty,
                        issued_on)
    return parse


_ISSUANCE = {
    "ACR": (ACR_ISSUANCE_COLUMNS, _acr_issuance, "Total Credits Issued"),
    "CAR": (CAR_ISSUANCE_COLUMNS, _car_issuance, "Total Offset Credits Issued"),
    "GOLD": (GOLD_ISSUANCE_COLUMNS, _gold_issuance, "Quantity"),
    "VCS": (VCS_ISSUANCE_COLUMNS, _vcs_issuance, "Credits Issued"),
}


def load_issuances(registry: str, path: Path) -> Loaded[Issuance]:
    """Issuance rows of ``registry`` (ACR, CAR, GOLD, VCS) from ``path``.

    Raises:
        ExportFormatError: file missing or a required column absent.
        KeyError: unknown registry.
    """
    columns, factory, qty = _ISSUANCE[registry]
    return _load(path, registry, "issuance", columns, factory(path.name), "Project ID", qty)


# --------------------------------------------------------------------------------------------
# retirement loaders

RETIREMENT_COLUMNS = (
    "Project ID", "Vintage", "Offset Credit Serial Numbers", "Quantity of Offset Credits",
    "Status Effective", "Project Name", "Account Holder", "Retirement Reason",
    "Retirement Reason Details", "Retirement Year",
)
#: index of the project number and of the vintage in the '-'-separated serial prefix
_SERIAL_FIELDS = {"ACR": (2, 3, 6), "CAR": (3, 7, 10)}  # (project, vintage, field count)


def _retirement(registry: str, file: str) -> Callable[[int, dict[str, str]], Retirement]:
    p_i, v_i, n_fields = _SERIAL_FIELDS[registry]

    def parse(line: int, r: dict[str, str]) -> Retirement:
        pid = _project_id(r["Project ID"], registry)
        vintage = parse_year(r["Vintage"], column="Vintage")
        qty = parse_quantity(r["Quantity of Offset Credits"], column="Quantity of Offset Credits")
        if qty == 0:
            raise RowError("Quantity of Offset Credits is 0: nothing was retired")
        text = r["Offset Credit Serial Numbers"]
        serial = parse_serial_range(text, quantity=qty)
        fields = serial.prefix.split("-")
        if serial.suffix or not serial.prefix.startswith(f"{registry}-") or len(fields) != n_fields:
            raise RowError(f"serial {text!r} is not a {registry} serial range")
        if fields[p_i] != pid[len(registry):]:
            raise RowError(f"serial {text!r} names project {fields[p_i]}, the row {pid}")
        if fields[v_i] != str(vintage):
            raise RowError(f"serial {text!r} names vintage {fields[v_i]}, the row {vintage}")
        effective = parse_date(r["Status Effective"], column="Status Effective")
        _check_year(effective, r["Retirement Year"], "Retirement Year")
        return Retirement(registry, file, line, pid, r["Project Name"].strip(), vintage, qty,
                          serial, effective, r["Account Holder"].strip(),
                          r["Retirement Reason"].strip(), r["Retirement Reason Details"].strip())
    return parse


def load_retirements(registry: str, path: Path) -> Loaded[Retirement]:
    """Retirement rows of ``registry`` (ACR or CAR) from ``path``.

    Raises:
        ExportFormatError: file missing or a required column absent.
        ValueError: a registry without retirement exports.
    """
    if registry not in RETIREMENT_REGISTRIES:
        raise ValueError(f"{registry} has no retirement export")
    return _load(path, registry, "retirement", RETIREMENT_COLUMNS, _retirement(registry, path.name),
                 "Project ID", "Quantity of Offset Credits")


# --------------------------------------------------------------------------------------------
# projects.csv

PROJECT_COLUMNS = (
    "Project ID", "Project Name", "Voluntary Registry", "ARB Project", "Voluntary Status",
    "Total Credits Issued", "Total Credits Retired", "Total Credits Remaining", "PERs",
    "Registry / ARB", "Notes from Registry", "Notes from Berkeley Carbon Trading Project",
    "Methodology / Protocol", "Country", "Project Registered", "First Year of Project",
)


def _signed(text: str, column: str) -> int:
    s = text.strip()
    if s.startswith("-"):
        return -parse_quantity(s[1:], column=column)
    return parse_quantity(s, column=column, optional=True)


def _project(file: str) -> Callable[[int, dict[str, str]], ProjectTotals]:
    def parse(line: int, r: dict[str, str]) -> ProjectTotals:
        registry = r["Voluntary Registry"].strip()
        if registry not in REGISTRIES:
            raise RowError(f"Voluntary Registry {registry!r} is not one of {REGISTRIES}")
        pid = r["Project ID"].strip()
        if not re.fullmatch(rf"{PROJECT_PREFIX[registry]}(OPR)?\d+", pid):
            raise RowError(f"Project ID {pid!r} is not a {registry} project id")
        issued = parse_quantity(r["Total Credits Issued"], column="Total Credits Issued",
                                optional=True)
        retired = parse_quantity(r["Total Credits Retired"], column="Total Credits Retired",
                                 optional=True)
        remaining = _signed(r["Total Credits Remaining"], "Total Credits Remaining")
        return ProjectTotals(
            line, pid, registry, r["Project Name"].strip(), issued, retired, remaining,
            parse_quantity(r["PERs"], column="PERs", optional=True),
            r["ARB Project"].strip() == "Yes", r["Registry / ARB"].strip(),
            r["Voluntary Status"].strip(), r["Notes from Registry"].strip(),
            r["Notes from Berkeley Carbon Trading Project"].strip(),
            r["Methodology / Protocol"].strip(), r["Country"].strip(),
            _optional(parse_date, r["Project Registered"], column="Project Registered"),
            _optional(parse_year, r["First Year of Project"], column="First Year of Project"),
        )
    return parse


def _optional(fn: Callable[..., T], text: str, *, column: str) -> T | None:
    """An informative column: a value that does not parse is left out (None), not refused."""
    try:
        return fn(text, column=column) if text.strip() else None
    except RowError:
        return None


def load_projects(path: Path) -> Loaded[ProjectTotals]:
    """projects.csv rows; a duplicated Project ID refuses the later row.

    Raises:
        ExportFormatError: file missing or a required column absent.
    """
    out = _load(path, "", "project", PROJECT_COLUMNS, _project(path.name), "Project ID",
                "Total Credits Issued")
    seen: dict[str, int] = {}
    keep: list[ProjectTotals] = []
    for p in out.rows:
        if p.project_id in seen:
            out.refused.append(Refusal(p.registry, out.file, p.row,
                                       f"Project ID {p.project_id} repeats line {seen[p.project_id]}",
                                       p.project_id, p.issued, "project"))
        else:
            seen[p.project_id] = p.row
            keep.append(p)
    out.rows = keep
    return out


# --------------------------------------------------------------------------------------------
# all files of a directory


@dataclass
class RegistryExports:
    """Everything loaded from one export directory, for the selected registries."""

    data_dir: Path
    registries: tuple[str, ...]
    issuances: dict[str, Loaded[Issuance]]
    retirements: dict[str, Loaded[Retirement]]
    projects: Loaded[ProjectTotals]
    #: rows kept per file when only a slice was loaded (None: whole files)
    limit: int | None = None

    def refused(self, registry: str) -> list[Refusal]:
        out = list(self.issuances[registry].refused)
        if registry in self.retirements:
            out += self.retirements[registry].refused
        out += [r for r in self.projects.refused if r.registry == registry]
        return out


def parse_registries(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"ACR,car"`` → ``("ACR", "CAR")``; ``None`` → all four.

    Raises:
        ValueError: an unknown registry name.
    """
    if text is None:
        return REGISTRIES
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[str] = []
    for it in items:
        name = it.strip().upper()
        if name == "GS":
            name = "GOLD"
        if name not in REGISTRIES:
            raise ValueError(f"unknown registry {it!r}; choose from {','.join(REGISTRIES)}")
        if name not in out:
            out.append(name)
    if not out:
        raise ValueError("no registry selected")
    return tuple(out)


def load_registry_exports(
    data_dir: Path | str, registries: Iterable[str] | str | None = None, *, limit: int | None = None
) -> RegistryExports:
    """Load ``{REG}_issuances.csv``, ``{REG}_retirements.csv`` (ACR, CAR) and projects.csv.

    Args:
        limit: keep only the first ``limit`` data rows of each issuance/retirement file (CI
            slices); projects.csv is always read whole.

    Raises:
        ExportFormatError: a file is missing or lacks a required column.
    """
    d = Path(data_dir)
    regs = parse_registries(registries)
    iss = {r: load_issuances(r, d / f"{r}_issuances.csv") for r in regs}
    ret = {r: load_retirements(r, d / f"{r}_retirements.csv")
           for r in regs if r in RETIREMENT_REGISTRIES}
    if limit is not None:
        for loaded in [*iss.values(), *ret.values()]:
            _slice(loaded, limit)
    return RegistryExports(d, regs, iss, ret, load_projects(d / "projects.csv"), limit)


def _slice(loaded: Loaded[T], limit: int) -> None:
    rows = sorted([(getattr(x, "row"), 0, x) for x in loaded.rows]
                  + [(x.row, 1, x) for x in loaded.refused], key=lambda t: t[0])[:limit]
    keep = {(r, k) for r, k, _ in rows}
    loaded.rows = [x for x in loaded.rows if (getattr(x, "row"), 0) in keep]
    loaded.refused = [x for x in loaded.refused if (x.row, 1) in keep]


# --------------------------------------------------------------------------------------------
# reconciliation


@dataclass(frozen=True)
class Cause:
    """Part of a difference that the files account for: ``amount_t`` tCO2e (signed: positive
    when projects.csv counts more than the export), a code and a readable explanation."""

    code: str
    amount_t: int | None
    detail: str

    def as_json(self) -> dict[str, object]:
        return {"cause": self.code, "t": self.amount_t, "detail": self.detail}


@dataclass(frozen=True)
class Difference:
    """A project whose totals disagree between projects.csv, the export and the replay.

    ``export_t``: all rows of the export (refused rows included when their quantity could be
    read); ``replayed_t``: rows accepted for the ledger (``None`` when not computed);
    ``projects_csv_t``: projects.csv (``None`` when the project is absent). ``unexplained_t``
    is what the causes do not account for (``None`` when a cause only bounds the difference).
    """

    registry: str
    project_id: str
    measure: str  # "issued" | "retired"
    export_t: int
    replayed_t: int | None
    projects_csv_t: int | None
    causes: tuple[Cause, ...]
    unexplained_t: int | None

    @property
    def difference_t(self) -> int | None:
        """projects.csv minus export (``None`` when projects.csv has no row)."""
        return None if self.projects_csv_t is None else self.projects_csv_t - self.export_t

    def as_json(self) -> dict[str, object]:
        return {
            "project": self.project_id,
            "measure": self.measure,
            "export_t": self.export_t,
            "replayed_t": self.replayed_t,
            "projects_csv_t": self.projects_csv_t,
            "difference_t": self.difference_t,
            "causes": [c.as_json() for c in self.causes],
            "unexplained_t": self.unexplained_t,
        }


@dataclass(frozen=True)
class Observation:
    """A consistency finding that is not a per-project difference (e.g. double counting across
    registries, inconsistent treatment of one kind of credit across projects)."""

    registry: str
    code: str
    detail: str
    rows: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        return {"cause": self.code, "detail": self.detail, "rows": list(self.rows)}


@dataclass
class Reconciliation:
    """Per-registry differences and observations (see :func:`reconcile`)."""

    differences: dict[str, list[Difference]]
    observations: dict[str, list[Observation]]
    projects_compared: dict[str, int]

    def summary(self, registry: str) -> dict[str, object]:
        diffs = self.differences.get(registry, [])
        by_cause: Counter[str] = Counter()
        for d in diffs:
            for c in d.causes:
                by_cause[c.code] += 1
            if d.unexplained_t and all(c.code != "unexplained" for c in d.causes):
                by_cause["unexplained"] += 1
        return {
            "projects_compared": self.projects_compared.get(registry, 0),
            "differences": len(diffs),
            "issued_differences": sum(d.measure == "issued" for d in diffs),
            "retired_differences": sum(d.measure == "retired" for d in diffs),
            "by_cause": dict(sorted(by_cause.items())),
            "unexplained_t": sum(abs(d.unexplained_t or 0) for d in diffs),
        }

    def as_json(self, registry: str) -> dict[str, object]:
        return {
            "summary": self.summary(registry),
            "differences": [d.as_json() for d in self.differences.get(registry, [])],
            "observations": [o.as_json() for o in self.observations.get(registry, [])],
        }


def _name_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", name.lower())


def _sum_by(rows: Iterable[Issuance | Retirement], pred: Callable[[T], bool] | None = None
            ) -> Counter[str]:
    c: Counter[str] = Counter()
    for r in rows:
        if pred is None or pred(r):  # type: ignore[arg-type]
            c[r.project_id] += r.quantity
    return c


def reconcile(
    exports: RegistryExports,
    replay_refused: Sequence[Refusal] = (),
    replayed: dict[str, dict[str, Counter[str]]] | None = None,
) -> Reconciliation:
    """Compare per project the export's issued and retired totals with projects.csv, and the
    replayed totals with the export; attribute every difference to causes the files show.

    Args:
        replay_refused: rows the replay did not put on the ledger beyond the loaders' refusals
            (policy, pre-checks, contract reverts), with project and quantity.
        replayed: ``{registry: {"issued": Counter(project → t), "retired": …}}`` as recorded on
            the ledger; default: export minus every refused row.

    Causes (codes) looked for, in the data itself:

    * ``refused_rows`` – rows the loader or the replay refused (export ≠ replayed).
    * ``gold_per`` – GOLD PER rows: projects.csv keeps them in its ``PERs`` column, not in
      ``Total Credits Issued``.
    * ``absent_from_projects_csv`` (with a same-named projects.csv row if one exists),
      ``no_export_rows`` – the project is only on one side.
    * ``car_canceled`` / ``car_canceled_for_arb`` – CAR credits canceled, or canceled for ARB
      compliance, that projects.csv counts as retired.
    * ``within_arb_cancellations`` – an ARB project whose projects.csv retired total exceeds the
      retirement file by less than its credits canceled for ARB compliance: the rest was retired
      in ARB's registry, which these files do not contain (bound, not exact).
    * ``arb_project_no_cancel_column`` – an ACR project flagged ARB in projects.csv: its retired
      total comes from ARB data and the ACR export has no column for transfers to ARB.
    * ``no_retirement_export`` – GOLD and VCS: there are no retirement files.
    * ``outside_slice`` – with a row limit, the project's other rows were not loaded (only
      projects with rows in the slice are compared then).
    * ``unexplained`` – whatever remains.
    """
    projects = {p.project_id: p for p in exports.projects.rows}
    names: dict[str, list[ProjectTotals]] = defaultdict(list)
    for p in exports.projects.rows:
        names[_name_key(p.name)].append(p)
    differences: dict[str, list[Difference]] = {}
    observations: dict[str, list[Observation]] = {}
    compared: dict[str, int] = {}
    for reg in exports.registries:
        iss = exports.issuances[reg]
        ret = exports.retirements.get(reg)
        refused = [r for r in [*exports.refused(reg), *replay_refused]
                   if r.registry == reg and r.kind in ("issuance", "retirement")]
        ref_q: dict[str, Counter[str]] = {"issuance": Counter(), "retirement": Counter()}
        ref_rows: dict[tuple[str, str], list[Refusal]] = defaultdict(list)
        for r in refused:
            if r.project_id:
                ref_rows[r.kind, r.project_id].append(r)
                if r.quantity is not None:
                    ref_q[r.kind][r.project_id] += r.quantity
        # export totals = parsed rows + loader-refused rows whose quantity was readable
        exp_iss = _sum_by(iss.rows)
        exp_ret = _sum_by(ret.rows) if ret else Counter()
        for r in exports.refused(reg):
            if r.project_id and r.quantity is not None:
                (exp_iss if r.kind == "issuance" else exp_ret)[r.project_id] += r.quantity
        if replayed is not None and reg in replayed:
            rep_iss, rep_ret = replayed[reg]["issued"], replayed[reg]["retired"]
        else:
            rep_iss = Counter({k: v - ref_q["issuance"][k] for k, v in exp_iss.items()})
            rep_ret = Counter({k: v - ref_q["retirement"][k] for k, v in exp_ret.items()})
        per_rows = _sum_by(iss.rows, lambda r: r.is_planned)
        canceled = Counter()
        arb_canceled: Counter[str] = Counter()
        for r in iss.rows:
            canceled[r.project_id] += r.canceled
            arb_canceled[r.project_id] += r.canceled_for_arb
        listed = () if exports.limit is not None else (
            p.project_id for p in projects.values() if p.registry == reg)
        ids = sorted({*exp_iss, *exp_ret, *listed}, key=lambda s: (len(s), s))
        diffs: list[Difference] = []
        for pid in ids:
            p = projects.get(pid)
            for measure, exp_t, rep_t, csv_t in (
                ("issued", exp_iss[pid], rep_iss.get(pid, 0), p.issued if p else None),
                ("retired", exp_ret[pid], rep_ret.get(pid, 0), p.retired if p else None),
            ):
                if measure == "retired" and p is None and exp_t == 0:
                    continue
                kind = "issuance" if measure == "issued" else "retirement"
                causes: list[Cause] = []
                unexplained: int | None = 0
                # replay vs export
                if rep_t != exp_t:
                    rows = ref_rows.get((kind, pid), [])
                    q = sum(r.quantity or 0 for r in rows)
                    causes.append(Cause(
                        "refused_rows", q,
                        f"{len(rows)} row(s) not replayed: "
                        + "; ".join(f"{r.file}:{r.row} {r.reason}" for r in rows[:5])
                        + (" …" if len(rows) > 5 else "")))
                    unexplained = (exp_t - rep_t) - q
                # export vs projects.csv
                if p is None:
                    twins = [t for t in names.get(_name_key(_export_name(exports, reg, pid)), [])
                             if t.project_id != pid]
                    twin = ""
                    if twins:
                        twin = "; projects.csv has the same project name under " + ", ".join(
                            f"{t.project_id} ({measure} {getattr(t, measure)} t"
                            + (f", and {exp_iss[t.project_id]} t issued in this export too"
                               if measure == "issued" and exp_iss[t.project_id] else "") + ")"
                            for t in twins)
                    causes.append(Cause("absent_from_projects_csv", None,
                                        f"{pid} has no projects.csv row{twin}"))
                    diffs.append(Difference(reg, pid, measure, exp_t, rep_t, None,
                                            tuple(causes), None))
                    continue
                diff = csv_t - exp_t
                if diff == 0 and rep_t == exp_t:
                    continue
                if diff != 0:
                    cands = _candidates(reg, measure, pid, p, exp_t, per_rows[pid],
                                        canceled[pid], arb_canceled[pid], exports)
                    found = _explain(diff, cands)
                    if found is not None:
                        causes += found
                    else:
                        bound = _bound(reg, measure, p, diff, canceled[pid], arb_canceled[pid])
                        if bound is not None:
                            causes.append(bound)
                            unexplained = None
                        elif exports.limit is not None:
                            causes.append(Cause("outside_slice", diff,
                                                f"only the first {exports.limit} rows of each "
                                                f"file were loaded"))
                        else:
                            causes.append(Cause("unexplained", diff, _unexplained(
                                reg, measure, p, exp_t, cands)))
                            if unexplained is not None:
                                unexplained += diff
                diffs.append(Difference(reg, pid, measure, exp_t, rep_t, csv_t, tuple(causes),
                                        unexplained))
        differences[reg] = diffs
        compared[reg] = len(ids)
        observations[reg] = _observations(reg, exports, arb_canceled, exp_ret, projects)
    return Reconciliation(differences, observations, compared)


def _export_name(exports: RegistryExports, reg: str, pid: str) -> str:
    for r in exports.issuances[reg].rows:
        if r.project_id == pid:
            return r.project_name
    return ""


def _candidates(reg: str, measure: str, pid: str, p: ProjectTotals, exp_t: int, per: int,
                canceled: int, arb_canceled: int, exports: RegistryExports) -> list[Cause]:
    out: list[Cause] = []
    if measure == "issued":
        if exp_t == 0:
            out.append(Cause("no_export_rows", p.issued,
                             f"projects.csv lists {p.issued} t issued for {pid} but "
                             f"{reg}_issuances.csv has no row for it"
                             + (f" ({p.notes_berkeley})" if p.notes_berkeley else "")
                             + (f"; status {p.status!r}" if p.status else "")))
        if per:
            same = "equal to" if p.pers == per else f"while its PERs column says {p.pers} t,"
            out.append(Cause("gold_per", -per,
                             f"{per} t of PER rows (planned emission reductions, ex-ante) are in "
                             f"GOLD_issuances.csv; projects.csv keeps PERs out of Total Credits "
                             f"Issued ({same} its PERs column)"))
    else:
        if reg not in RETIREMENT_REGISTRIES:
            out.append(Cause("no_retirement_export", p.retired,
                             f"no {reg} retirement file exists; projects.csv says "
                             f"{p.retired} t retired"))
            return out
        if canceled:
            out.append(Cause("car_canceled", canceled,
                             f"{canceled} t canceled (CAR 'Canceled' column) counted as retired "
                             f"by projects.csv"))
        if arb_canceled:
            out.append(Cause("car_canceled_for_arb", arb_canceled,
                             f"{arb_canceled} t canceled for ARB compliance (moved to ARB's "
                             f"registry) counted as retired by projects.csv"))
    return out


def _explain(diff: int, cands: list[Cause]) -> list[Cause] | None:
    """The smallest subset of candidate causes whose amounts sum exactly to ``diff``."""
    n = len(cands)
    for size in range(1, n + 1):
        for mask in range(1 << n):
            if bin(mask).count("1") != size:
                continue
            pick = [cands[i] for i in range(n) if mask >> i & 1]
            if sum(c.amount_t or 0 for c in pick) == diff:
                return pick
    return None


def _bound(reg: str, measure: str, p: ProjectTotals, diff: int, canceled: int,
           arb_canceled: int) -> Cause | None:
    if measure != "retired" or not p.arb_project:
        return None
    if reg == "CAR" and 0 < diff <= canceled + arb_canceled:
        return Cause("within_arb_cancellations", diff,
                     f"ARB project (projects.csv 'Registry / ARB' = {p.data_source!r}): projects.csv "
                     f"counts {diff} t more retired than CAR_retirements.csv, within the "
                     f"{arb_canceled} t canceled for ARB compliance (+{canceled} t canceled); "
                     f"their retirement in ARB's registry is not in these files, so the split "
                     f"cannot be checked")
    if reg == "ACR" and diff > 0:
        return Cause("arb_project_no_cancel_column", diff,
                     f"ARB project (projects.csv 'Registry / ARB' = {p.data_source!r}): projects.csv "
                     f"counts {diff} t more retired than ACR_retirements.csv; the ACR export has no "
                     f"column for credits transferred to ARB, so the files do not show the cause")
    return None


def _unexplained(reg: str, measure: str, p: ProjectTotals, exp_t: int, cands: list[Cause]) -> str:
    tried = ", ".join(f"{c.code} {c.amount_t} t" for c in cands) or "none"
    notes = "; ".join(x for x in (p.notes_registry, p.notes_berkeley) if x)
    return (f"projects.csv {measure} {getattr(p, measure)} t vs export {exp_t} t; the files show "
            f"no cause (candidates tried: {tried}; status {p.status!r}"
            + (f"; notes: {notes}" if notes else "") + ")")


def _observations(reg: str, exports: RegistryExports, arb_canceled: Counter[str],
                  exp_ret: Counter[str], projects: dict[str, ProjectTotals]) -> list[Observation]:
    out: list[Observation] = []
    iss = exports.issuances[reg].rows
    if reg == "CAR":
        vcs = exports.issuances.get("VCS")
        vcs_rows = vcs.rows if vcs else []
        if not vcs_rows and (exports.data_dir / "VCS_issuances.csv").is_file():
            vcs_rows = load_issuances("VCS", exports.data_dir / "VCS_issuances.csv").rows
        for r in iss:
            if not r.converted_to_vcus:
                continue
            words = {w for w in re.findall(r"[a-z]{4,}", r.project_name.lower())}
            twins = [v for v in vcs_rows if v.vintage == r.vintage
                     and v.quantity == r.converted_to_vcus
                     and words & set(re.findall(r"[a-z]{4,}", v.project_name.lower()))]
            where = (", ".join(f"{v.file}:{v.row} {v.project_id} {v.project_name!r}" for v in twins)
                     or "no VCS row of that vintage and quantity found")
            out.append(Observation(
                reg, "double_counted_across_registries",
                f"{r.project_id} vintage {r.vintage}: {r.converted_to_vcus} t of CAR issuance "
                f"{r.file}:{r.row} were converted to VCUs and are issued again in the VCS export "
                f"({where}); both registries' totals (and projects.csv) count them",
                (f"{r.file}:{r.row}", *(f"{v.file}:{v.row}" for v in twins))))
        counted = [pid for pid, q in arb_canceled.items() if q and pid in projects
                   and projects[pid].retired - exp_ret[pid] >= q]
        not_counted = [pid for pid, q in arb_canceled.items() if q and pid in projects
                       and projects[pid].retired == exp_ret[pid]]
        if counted and not_counted:
            out.append(Observation(
                reg, "inconsistent_arb_cancellations",
                f"projects.csv counts credits canceled for ARB compliance as retired for "
                f"{len(counted)} projects (e.g. {', '.join(counted[:3])}) but not for "
                f"{len(not_counted)} others (e.g. {', '.join(not_counted[:3])}), whose "
                f"'remaining' then includes credits that have left CAR"))
    if reg == "GOLD":
        statuses = Counter(r.product for r in iss)
        out.append(Observation(
            reg, "credit_status",
            "every GOLD_issuances.csv row has Credit Status 'Issued' (no retired rows exist in "
            f"this export); product types: {dict(sorted(statuses.items()))}"))
    neg = [p for p in projects.values() if p.registry == reg and p.remaining < 0]
    if neg:
        out.append(Observation(
            reg, "negative_remaining",
            "projects.csv shows negative remaining credits for "
            + ", ".join(f"{p.project_id} ({p.remaining} t)" for p in neg)
            + " — " + "; ".join(sorted({p.notes_berkeley for p in neg if p.notes_berkeley}))))
    return out


# --------------------------------------------------------------------------------------------
# replay plan (pure Python mirror of CCERRegistry's checks)

#: Registry code in the high decimal digits of a ledger project number.
REGISTRY_CODE = {"ACR": 1, "CAR": 2, "GOLD": 3, "VCS": 4}
#: Registry code of Verra's OPR (ARB) ids "VCSOPR<n>" (projects.csv only; never replayed).
VCS_OPR_CODE = 5
PROJECT_NUMBER_BASE = 10**9
UINT64_MAX = (1 << 64) - 1


def project_number(project_id: str) -> int:
    """Ledger project number (uint64) of an export project id: registry code × 10^9 + number.

    ``ACR102`` → 1_000_000_102, ``CAR1008`` → 2_000_001_008, ``GS1001`` → 3_000_001_001,
    ``VCS1`` → 4_000_000_001, ``VCSOPR2`` → 5_000_000_002. The registry stays readable in the
    high digits and the export's number in the low nine (every id in the exports is < 10^9).

    Raises:
        ValueError: an id of no known registry, or a number ≥ 10^9.
    """
    m = re.fullmatch(r"(ACR|CAR|GS|VCSOPR|VCS)(\d+)", project_id.strip())
    if not m:
        raise ValueError(f"{project_id!r} is not an ACR, CAR, GS or VCS project id")
    code = {"ACR": 1, "CAR": 2, "GS": 3, "VCS": 4, "VCSOPR": VCS_OPR_CODE}[m.group(1)]
    n = int(m.group(2))
    if not 0 < n < PROJECT_NUMBER_BASE:
        raise ValueError(f"{project_id!r}: number must be in 1…{PROJECT_NUMBER_BASE - 1}")
    return code * PROJECT_NUMBER_BASE + n


def project_id_of(number: int) -> str:
    """Inverse of :func:`project_number`."""
    code, n = divmod(number, PROJECT_NUMBER_BASE)
    prefix = {1: "ACR", 2: "CAR", 3: "GS", 4: "VCS", VCS_OPR_CODE: "VCSOPR"}.get(code)
    if prefix is None or n == 0:
        raise ValueError(f"{number} is not a replayed project number")
    return f"{prefix}{n}"


@dataclass(frozen=True)
class PlannedBatch:
    """One issuance row to send as ``issueBatch``; ``index`` is its 0-based position in the plan
    (batch ids on a fresh registry are ``index + 1``)."""

    index: int
    issuance: Issuance

    @property
    def serial_prefix(self) -> str:
        """The contract's serial prefix: the series (``*`` marks the number in suffixed serials)."""
        return self.issuance.serial.series if self.issuance.serial else ""


@dataclass(frozen=True)
class PlannedRetirement:
    """One ``retire`` call: ``amount`` t of serials ``start…end`` of ``prefix`` from batch
    ``batch_index``; ``part``/``parts`` > 1 when a retirement row spans several batches."""

    retirement: Retirement
    batch_index: int
    amount: int
    prefix: str
    start: int
    end: int
    part: int = 1
    parts: int = 1


@dataclass(frozen=True)
class PlannedCancellation:
    """One ``cancel`` call: ``amount`` t of the issuance row's project and vintage leave the
    holding for ``destination`` ("ARB": canceled for ARB compliance, "VCS": converted to VCUs,
    "CAR:Canceled": canceled without a destination in the export), taken from batch
    ``batch_index`` (``CCERRegistry.cancel`` takes units of one batch); ``part``/``parts`` > 1
    when the row's cancellation spans several batches of that project and vintage."""

    issuance: Issuance
    amount: int
    destination: str
    batch_index: int
    part: int = 1
    parts: int = 1


@dataclass
class ReplayPlan:
    """What to send, in order, and what is refused before sending."""

    registry: str
    projects: list[str]
    batches: list[PlannedBatch]
    retirements: list[PlannedRetirement]
    refused: list[Refusal]
    cancellations: list[PlannedCancellation] = field(default_factory=list)


def _serial_refusal(book: SerialBook, s: SerialRange, *checks: tuple[str, str]) -> str | None:
    """CCERRegistry's refusal of serials ``s`` as text, or None: numbers outside 1…2^64-2
    (``InvalidSerialRange``), then, per (kind, error) of ``checks``, a shared serial with an
    ``issued`` / ``retired`` range booked in ``book`` (its owner row named)."""
    if s.start < 1 or s.end >= UINT64_MAX:
        return f"InvalidSerialRange: {s} (serials are 1…2^64-2)"
    for kind, error in checks:
        hit = book.overlapping(kind, s.series, s.start, s.end)
        if hit:
            return (f"{error}: {s} overlaps {kind} {hit[2].file}:{hit[2].row} "
                    f"({hit[2].project_id}, {hit[2].serial})")
    return None


def plan_replay(exports: RegistryExports, registry: str, *, include_planned: bool = False
                ) -> ReplayPlan:
    """Decide, in Python with the contract's own rules, which rows of ``registry`` go on the
    ledger; everything else becomes a :class:`Refusal` with the reason.

    Rules (CCERRegistry.issueBatch / retire, and the replay's policy):

    * GOLD PER rows are *planned* emission reductions (ex-ante, vintages up to 2060): a CCER is
      registered only for reductions that have occurred (《温室气体自愿减排交易管理办法（试行）》,
      reductions registered per period after they arise — china_rules.md §4), so they are not
      issued unless ``include_planned``.
    * A serial range needs a prefix (``InvalidSerialRange``: GOLD's bare "15310756 - 15327117").
    * Issuances are sent in date order (then file order); issued serial ranges of one prefix
      may not overlap (``SerialsAlreadyIssued``): the later row is refused.
    * A retirement needs issued, unretired credits of its project and vintage
      (``BatchExhausted`` / no batch); it is taken from that vintage's batches in issuance order,
      split over several batches (several certificates, consecutive sub-ranges) when one batch
      has too few left.
    * CAR credits canceled for ARB compliance, converted to VCUs or canceled are cancelled
      (``CCERRegistry.cancel``, one batch a call) after the retirements, from what is left
      unretired and uncancelled of the project and vintage: from the row's own batch when it
      has enough, else from one batch of that vintage that has, else split over the row's own
      batch and then the others in issuance order (several ``cancel`` calls), as retirements are.
    * Retirements are sent in ``Status Effective`` order (then file order) after all issuances.
      Retired serial ranges of one prefix may not overlap (``SerialsAlreadyRetired``), nor
      overlap an issued range of that prefix (``SerialsAlreadyIssued``).
    """
    iss = exports.issuances[registry]
    refused: list[Refusal] = []
    batches: list[PlannedBatch] = []
    book = SerialBook()   # the one mirror of CCERRegistry's serial bookkeeping (ledger/offsets/serials.py)

    def refuse(row: Issuance | Retirement, kind: str, reason: str) -> None:
        refused.append(Refusal(registry, row.file, row.row, reason, row.project_id, row.quantity,
                               kind))

    # chronological, so that of two rows claiming the same serials the earlier issuance stands
    for r in sorted(iss.rows, key=lambda x: (x.issued_on, x.row)):
        if r.is_planned and not include_planned:
            refuse(r, "issuance", "PER (planned emission reductions, ex-ante): not issued — only "
                   "reductions that have occurred are registered (温室气体自愿减排交易管理办法（试行）)")
            continue
        if r.quantity > UINT64_MAX or not 0 < r.vintage < 1 << 16:
            refuse(r, "issuance", f"amount {r.quantity} or vintage {r.vintage} out of range")
            continue
        if r.serial:
            s = r.serial
            if not s.prefix:
                refuse(r, "issuance", f"InvalidSerialRange: {s} has no serial prefix (the registry "
                       "keys serial blocks by their prefix; a bare number names no block)")
                continue
            why = _serial_refusal(book, s, ("issued", "SerialsAlreadyIssued"))
            if why:
                refuse(r, "issuance", why)
                continue
            book.record("issued", s.series, s.start, s.end, r)
        batches.append(PlannedBatch(len(batches), r))

    by_vintage: dict[tuple[str, int], list[int]] = defaultdict(list)
    left: list[int] = []
    for b in batches:
        by_vintage[b.issuance.project_id, b.issuance.vintage].append(b.index)
        left.append(b.issuance.quantity)
    planned: list[PlannedRetirement] = []
    ret = exports.retirements.get(registry)
    for r in sorted(ret.rows, key=lambda x: (x.effective_on, x.row)) if ret else []:
        s = r.serial
        idx = by_vintage.get((r.project_id, r.vintage), [])
        if not idx:
            any_vintage = any(p == r.project_id for p, _ in by_vintage)
            refuse(r, "retirement", f"no issued batch of {r.project_id} vintage {r.vintage} to retire "
                   "from" + ("" if any_vintage else f" ({r.project_id} has no replayed issuance)"))
            continue
        avail = sum(left[i] for i in idx)
        if avail < r.quantity:
            refuse(r, "retirement", f"BatchExhausted: retires {r.quantity} t but only {avail} t of "
                   f"{r.project_id} vintage {r.vintage} remain unretired")
            continue
        why = _serial_refusal(book, s, ("issued", "SerialsAlreadyIssued"), ("retired", "SerialsAlreadyRetired"))
        if why:
            refuse(r, "retirement", why)
            continue
        book.record("retired", s.series, s.start, s.end, r)
        parts: list[tuple[int, int]] = []
        need = r.quantity
        # prefer one batch that can take the whole row; else fill in issuance order
        whole = next((i for i in idx if left[i] >= need), None)
        if whole is not None:
            parts.append((whole, need))
        else:
            for i in idx:
                if need == 0:
                    break
                take = min(left[i], need)
                if take:
                    parts.append((i, take))
                    need -= take
        start = s.start
        for k, (i, amount) in enumerate(parts, 1):
            left[i] -= amount
            planned.append(PlannedRetirement(r, i, amount, s.series, start, start + amount - 1,
                                             k, len(parts)))
            start += amount
    # cancellations (CAR columns) after the retirements: the export gives no dates for them;
    # they need unretired, uncancelled credits of the project and vintage. CCERRegistry.cancel
    # takes units of one batch, so a row's cancellation may be split over the vintage's batches
    # (``left``: per batch, what the retirements above left)
    cancels: list[PlannedCancellation] = []
    for b in batches:
        i = b.issuance
        for amount, dest in ((i.canceled_for_arb, "ARB"), (i.converted_to_vcus, "VCS"),
                             (i.canceled, "CAR:Canceled")):
            if not amount:
                continue
            idx = by_vintage[i.project_id, i.vintage]
            held = sum(left[k] for k in idx)
            if held < amount:
                refused.append(Refusal(registry, i.file, i.row,
                                       f"cancellation of {amount} t to {dest}: only {held} t "
                                       f"of {i.project_id} vintage {i.vintage} left unretired",
                                       i.project_id, amount, "cancellation"))
                continue
            own_first = [b.index, *(k for k in idx if k != b.index)]
            whole = next((k for k in own_first if left[k] >= amount), None)
            pieces: list[tuple[int, int]] = []
            if whole is not None:
                pieces.append((whole, amount))
            else:
                need = amount
                for k in own_first:
                    take = min(left[k], need)
                    if take:
                        pieces.append((k, take))
                        need -= take
                    if need == 0:
                        break
            for n, (k, take) in enumerate(pieces, 1):
                left[k] -= take
                cancels.append(PlannedCancellation(i, take, dest, k, n, len(pieces)))
    projects = sorted({b.issuance.project_id for b in batches}, key=project_number)
    return ReplayPlan(registry, projects, batches, planned, refused, cancels)
