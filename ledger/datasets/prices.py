"""Daily carbon-price series: the Guangdong pilot allowance (GDEA) prices of ``GCP.csv``.

``../shared/data/market/GCP.csv`` (Chen-zhongxiu/Carbon-price-data @ 6e3ea533; research use):
columns ``date`` (``Y/M/D``, no zero padding), ``type`` (``GDEA``), ``price`` (CNY per tonne,
up to 2 decimals), ``log_price``. Every row is one trading day. Prices become integer fen
(exact: CNY × 100); a price with more than 2 decimals is refused, never rounded.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path


class PriceFormatError(ValueError):
    """The price file cannot be read; the message names the line."""


@dataclass(frozen=True)
class DailyPrice:
    """One trading day's price: ``price_fen`` fen per tCO2e; ``line`` in the source file."""

    day: date
    price_fen: int
    line: int


def yuan_to_fen(text: str) -> int:
    """``"77.21"`` CNY → 7721 fen, exactly.

    Raises:
        ValueError: not a number, not positive, or finer than 0.01 CNY.
    """
    try:
        d = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"price {text!r} is not a number") from None
    fen = d * 100
    if not d.is_finite() or fen != fen.to_integral_value() or fen <= 0:
        raise ValueError(f"price {text!r} must be a positive amount of CNY with at most 2 decimals")
    return int(fen)


def _parse_day(text: str) -> date:
    y, m, d = (int(x) for x in text.strip().replace("-", "/").split("/"))
    return date(y, m, d)


def load_gcp(path: Path, *, product: str = "GDEA") -> list[DailyPrice]:
    """Read a GCP-style daily price file → trading days in date order.

    Raises:
        PriceFormatError: missing columns, an unreadable date or price, another product
            than ``product``, or a day listed twice (line named).
    """
    out: list[DailyPrice] = []
    seen: dict[date, int] = {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh, skipinitialspace=True)
        if not reader.fieldnames or not {"date", "price"} <= {f.strip() for f in reader.fieldnames}:
            raise PriceFormatError(f"{path}: needs columns date and price")
        for row in reader:
            row = {k.strip(): (v or "") for k, v in row.items() if k}
            line = reader.line_num
            if not any(v.strip() for v in row.values()):
                continue
            if "type" in row and row["type"].strip() and row["type"].strip() != product:
                raise PriceFormatError(f"{path.name}:{line}: product {row['type']!r} is not {product}")
            try:
                day = _parse_day(row["date"])
                fen = yuan_to_fen(row["price"])
            except ValueError as e:
                raise PriceFormatError(f"{path.name}:{line}: {e}") from None
            if day in seen:
                raise PriceFormatError(f"{path.name}:{line}: {day} already on line {seen[day]}")
            seen[day] = line
            out.append(DailyPrice(day, fen, line))
    out.sort(key=lambda p: p.day)
    return out


def select_window(prices: Sequence[DailyPrice], start: date | None = None, end: date | None = None,
                  days: int | None = None) -> tuple[list[DailyPrice], int | None]:
    """Trading days in ``[start, end]`` (both optional), at most the first ``days`` of them, and
    the real previous close before the window (the price of the last trading day before it,
    None if the window starts the series).

    Raises:
        ValueError: if the window holds no trading day or ``days`` < 1.
    """
    if days is not None and days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    window = [p for p in prices if (start is None or p.day >= start) and (end is None or p.day <= end)]
    if days is not None:
        window = window[:days]
    if not window:
        raise ValueError(f"no trading day between {start} and {end}")
    before = [p for p in prices if p.day < window[0].day]
    return window, (before[-1].price_fen if before else None)
