"""Exchange rule set (china_rules.md §5): bands, block threshold, tick, step, T+1 resale, close."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.accounting.exchange_rules import (
    DEFAULT_RULES,
    RULE_SOURCES,
    DayState,
    ExchangeRules,
    Trade,
    TradeMode,
    TradeRefused,
    check,
    close_price,
)

D1, D2 = date(2021, 7, 16), date(2021, 7, 19)


def trade(q: int = 1_000, p: int = 10_000, seller: str = "S", buyer: str = "B", day: date = D1,
          mode: TradeMode | None = None, tid: int = 1) -> Trade:
    return Trade(tid, day, seller, buyer, q, p, mode)


def codes(state: DayState, t: Trade) -> list[str]:
    return [v.code for v in check(t, state)]


@pytest.fixture()
def day() -> DayState:
    return DayState(D1, previous_close_fen=10_000)  # CNY 100.00


def test_every_default_rule_cites_china_rules_section_5() -> None:
    for name in ("listed_band_bp", "block_band_bp", "block_min_t", "quantity_step_t", "price_tick_fen", "same_day_resale"):
        src = RULE_SOURCES[name]
        assert "china_rules.md §5" in src.clause and src.status.startswith("CONFIRMED")
    assert RULE_SOURCES["band_rounding"].status == "UNCONFIRMED"
    r = DEFAULT_RULES
    assert (r.listed_band_bp, r.block_band_bp, r.block_min_t, r.quantity_step_t, r.price_tick_fen, r.same_day_resale) == \
        (1_000, 3_000, 100_000, 1, 1, False)


def test_listed_price_exactly_plus_ten_percent_is_accepted_one_fen_more_refused(day: DayState) -> None:
    assert codes(day, trade(p=11_000)) == []
    assert codes(day, trade(p=11_001)) == ["price_band"]


def test_listed_price_exactly_minus_ten_percent_is_accepted_one_fen_less_refused(day: DayState) -> None:
    assert codes(day, trade(p=9_000)) == []
    assert codes(day, trade(p=8_999)) == ["price_band"]


def test_block_band_is_thirty_percent(day: DayState) -> None:
    assert codes(day, trade(q=100_000, p=13_000)) == []
    assert codes(day, trade(q=100_000, p=7_000)) == []
    assert codes(day, trade(q=100_000, p=13_001)) == ["price_band"]
    assert codes(day, trade(q=100_000, p=6_999)) == ["price_band"]
    # the same +30 % price is outside the listed band
    assert codes(day, trade(q=99_999, p=13_000)) == ["price_band"]


def test_99999_t_is_listed_and_100000_t_is_block(day: DayState) -> None:
    assert DEFAULT_RULES.mode_for(99_999) is TradeMode.LISTED
    assert DEFAULT_RULES.mode_for(100_000) is TradeMode.BLOCK
    assert codes(day, trade(q=99_999, mode=TradeMode.LISTED)) == []
    assert codes(day, trade(q=100_000, mode=TradeMode.LISTED)) == ["listed_too_large"]
    assert codes(day, trade(q=100_000, mode=TradeMode.BLOCK)) == []
    assert codes(day, trade(q=99_999, mode=TradeMode.BLOCK)) == ["block_too_small"]


def test_band_limits_round_half_up_to_the_tick() -> None:
    # previous close CNY 13.19: ×0.9 = 11.871 → 11.87 (half up) is the lower limit; ×1.1 = 14.509 → 14.51
    assert DEFAULT_RULES.band(TradeMode.LISTED, 1_319) == (1_187, 1_451)
    inside = ExchangeRules(band_rounding="inside")
    assert inside.band(TradeMode.LISTED, 1_319) == (1_188, 1_450)
    s = DayState(D1, 1_319)
    assert codes(s, trade(p=1_187)) == [] and codes(s, trade(p=1_186)) == ["price_band"]
    assert codes(DayState(D1, 1_319, inside), trade(p=1_187)) == ["price_band"]


@given(st.integers(1, 10**9), st.sampled_from(["half_up", "inside"]))
def test_band_contains_the_previous_close_and_inside_mode_never_exceeds_the_exact_band(prev: int, rounding: str) -> None:
    r = ExchangeRules(band_rounding=rounding)  # type: ignore[arg-type]
    for mode, bp in ((TradeMode.LISTED, 1_000), (TradeMode.BLOCK, 3_000)):
        lo, hi = r.band(mode, prev)
        assert lo <= prev <= hi
        if rounding == "inside":
            assert hi * 10_000 <= prev * (10_000 + bp) and lo * 10_000 >= prev * (10_000 - bp)
        else:  # within half a tick of the exact limits
            assert abs(hi * 10_000 - prev * (10_000 + bp)) * 2 <= 10_000
            assert abs(lo * 10_000 - prev * (10_000 - bp)) * 2 <= 10_000 or lo == 1


def test_price_tick_refuses_fractions_of_a_fen(day: DayState) -> None:
    assert codes(day, trade(p=Decimal("10000.5"))) == ["price_tick"]  # type: ignore[arg-type]
    coarse = DayState(D1, 10_000, ExchangeRules(price_tick_fen=5))
    assert codes(coarse, trade(p=10_005)) == []
    assert codes(coarse, trade(p=10_003)) == ["price_tick"]


def test_quantity_step_refuses_fractional_tonnes(day: DayState) -> None:
    assert codes(day, trade(q=Decimal("10.5"))) == ["quantity_step"]  # type: ignore[arg-type]
    assert codes(day, trade(q=10.5)) == ["quantity_step"]  # type: ignore[arg-type]
    stepped = DayState(D1, 10_000, ExchangeRules(quantity_step_t=10))
    assert codes(stepped, trade(q=20)) == [] and codes(stepped, trade(q=25)) == ["quantity_step"]


@pytest.mark.parametrize("q,p", [(0, 10_000), (-5, 10_000), (10, 0), (10, -1), (True, 10_000), ("10", 10_000)])
def test_zero_negative_or_non_numeric_values_are_refused(day: DayState, q: object, p: object) -> None:
    assert "not_positive" in codes(day, trade(q=q, p=p))  # type: ignore[arg-type]


def test_self_trade_and_wrong_day_are_refused(day: DayState) -> None:
    assert codes(day, trade(seller="X", buyer="X")) == ["self_trade"]
    assert codes(day, trade(day=D2)) == ["wrong_day"]


def test_several_violations_are_all_reported(day: DayState) -> None:
    assert sorted(codes(day, trade(q=Decimal("1.5"), p=Decimal("20000.5"), day=D2))) == \
        ["price_tick", "quantity_step", "wrong_day"]  # type: ignore[arg-type]


def test_same_day_resale_refused_and_allowed_next_day(day: DayState) -> None:
    day.accept(trade(seller="S", buyer="B", tid=1))
    t = trade(seller="B", buyer="C", tid=2)
    assert codes(day, t) == ["same_day_resale"]
    with pytest.raises(TradeRefused) as e:
        day.accept(t)
    assert e.value.violations[0].rule == "same_day_resale"
    assert day.trades == 1  # the refused trade was not recorded
    nxt = day.next_day(D2)
    assert codes(nxt, trade(seller="B", buyer="C", day=D2)) == []
    # the resale rule is per asset
    assert codes(day, Trade(3, D1, "B", "C", 10, 10_000, asset_id=7)) == []


def test_resale_rule_can_be_switched_off(day: DayState) -> None:
    s = DayState(D1, 10_000, ExchangeRules(same_day_resale=True))
    s.accept(trade(seller="S", buyer="B"))
    assert codes(s, trade(seller="B", buyer="C")) == []


def test_opening_holdings_let_an_account_sell_what_it_held_before_buying_today() -> None:
    s = DayState(D1, 10_000, opening_holdings={("B", 0): 500})
    s.accept(trade(q=1_000, seller="S", buyer="B", tid=1))
    assert codes(s, trade(q=500, seller="B", buyer="C")) == []
    assert codes(s, trade(q=501, seller="B", buyer="C")) == ["same_day_resale"]
    s.accept(trade(q=500, seller="B", buyer="C", tid=2))
    assert codes(s, trade(q=1, seller="B", buyer="C")) == ["same_day_resale"]
    # an account that bought nothing today may not sell beyond its holding either
    s2 = DayState(D1, 10_000, opening_holdings={("S", 0): 10})
    assert codes(s2, trade(q=11, seller="S", buyer="C")) == ["exceeds_tradable"]


def test_previous_close_is_the_vwap_of_the_previous_days_listed_trades(day: DayState) -> None:
    day.accept(trade(q=100, p=10_000, tid=1))
    day.accept(trade(q=300, p=10_400, tid=2, buyer="B2"))
    day.accept(trade(q=200_000, p=12_000, tid=3, buyer="B3"))  # block: excluded from the close
    assert day.open_price_fen == 10_000
    assert day.close_price_fen == 10_300  # (100×10000 + 300×10400) / 400
    nxt = day.next_day(D2)
    assert nxt.previous_close_fen == 10_300
    assert nxt.band(TradeMode.LISTED) == (9_270, 11_330)


def test_a_day_without_listed_trades_closes_at_the_previous_close(day: DayState) -> None:
    day.accept(trade(q=150_000, p=12_000))
    assert day.open_price_fen == 10_000 and day.close_price_fen == 10_000
    assert day.next_day(D2).previous_close_fen == 10_000


def test_close_price_rounds_the_vwap_half_up_to_the_tick() -> None:
    assert close_price([(1_000, 1), (1_001, 1)], 999) == 1_001  # 1000.5 → 1001
    assert close_price([(1_000, 2), (1_001, 1)], 999) == 1_000  # 1000.33 → 1000
    assert close_price([], 4_242) == 4_242
    assert close_price([(1_002, 1), (1_007, 1)], 999, tick_fen=5) == 1_005  # 1004.5 → 1005 (nearest 5)


@given(st.lists(st.tuples(st.integers(1, 10**6), st.integers(1, 10**5)), min_size=1, max_size=30))
def test_close_lies_between_the_lowest_and_highest_listed_price(pairs: list[tuple[int, int]]) -> None:
    c = close_price(pairs, 1)
    assert min(p for p, _ in pairs) <= c <= max(p for p, _ in pairs)
    exact = sum(p * q for p, q in pairs) / sum(q for _, q in pairs)
    assert abs(c - exact) <= 0.5 + 1e-9


def test_next_day_must_be_later(day: DayState) -> None:
    with pytest.raises(ValueError):
        day.next_day(D1)


@pytest.mark.parametrize("kwargs", [dict(listed_band_bp=-1), dict(block_band_bp=10_000), dict(block_min_t=0),
                                    dict(quantity_step_t=0), dict(price_tick_fen=0), dict(band_rounding="down")])
def test_rule_set_refuses_bad_configuration(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ExchangeRules(**kwargs)  # type: ignore[arg-type]


def test_day_state_refuses_a_reference_off_the_tick() -> None:
    with pytest.raises(ValueError):
        DayState(D1, 10_003, ExchangeRules(price_tick_fen=5))
    with pytest.raises(ValueError):
        DayState(D1, 0)
