"""Moving-average costing without the database: the rules, and the one-pass replay after a
backdated movement."""

from decimal import Decimal as D

import pytest

from qinglian.trading import costing
from qinglian.trading.costing import Movement, NegativeStock, SeriesCosting, Valuation


def test_receipts_are_valued_net_of_vat():
    # 10 t at 4,520.00 incl. 13 % VAT = 45,200.00 incl. VAT = 40,000.00 net
    assert costing.net_value(D("10"), D("4520"), D("0.13")) == D("40000.00")
    assert costing.net_value(D("3.333"), D("100"), D("0.13")) == D("294.96")
    assert costing.amount_of(D("3.333"), D("100.0050")) == D("333.32")


def test_weighing_difference_and_contract_allowance():
    assert costing.difference_percent(D("100"), D("99.7")) == D("0.3")
    assert costing.difference_percent(D("100"), D("100.31")) == D("0.31")
    assert costing.difference_percent(D("0"), D("0")) == 0
    assert costing.contract_allowance(D("100"), D("5")) == D("105.000")
    assert costing.contract_allowance(D("33.333"), D("2.5")) == D("34.166")


def test_issues_leave_at_the_moving_average():
    series = SeriesCosting()
    assert series.apply(1, D("10"), Valuation.FIXED, D("1000.00")) == D("1000.00")
    assert series.apply(2, D("20"), Valuation.FIXED, D("2600.00")) == D("2600.00")
    # 30 t worth 3,600.00: 120.00 a tonne
    assert series.apply(3, D("-7"), Valuation.AVERAGE, D("0")) == D("-840.00")
    assert (series.quantity, series.value) == (D("23"), D("2760.00"))


def test_rounding_is_to_the_cent_half_up():
    series = SeriesCosting(D("3"), D("100.00"))  # 33.333… a tonne
    assert series.apply(1, D("-1"), Valuation.AVERAGE, D("0")) == D("-33.33")
    assert series.apply(2, D("-1"), Valuation.AVERAGE, D("0")) == D("-33.34")  # 66.67 / 2
    assert series.value == D("33.33")


def test_the_last_issue_takes_the_whole_remaining_value():
    series = SeriesCosting(D("3"), D("100.00"))
    series.apply(1, D("-1"), Valuation.AVERAGE, D("0"))
    assert series.apply(2, D("-2"), Valuation.AVERAGE, D("0")) == D("-66.67")
    assert (series.quantity, series.value) == (D("0"), D("0.00"))


def test_an_outflow_beyond_the_stock_is_refused():
    series = SeriesCosting(D("5"), D("500.00"))
    with pytest.raises(NegativeStock) as refused:
        series.apply(7, D("-5.001"), Valuation.AVERAGE, D("0"))
    assert refused.value.key == 7
    assert refused.value.quantity == D("-0.001")
    assert (series.quantity, series.value) == (D("5"), D("500.00"))  # untouched


def test_returns_come_back_at_their_own_cost_and_gains_at_the_average():
    series = SeriesCosting(D("10"), D("1000.00"))
    assert series.apply(1, D("4"), Valuation.RETURN, D("480.00")) == D("480.00")
    assert series.apply(2, D("1"), Valuation.GAIN, D("999.00")) == D("105.71")  # 1480/14
    empty = SeriesCosting()
    assert empty.apply(3, D("2"), Valuation.GAIN, D("50.00")) == D("50.00")


@pytest.mark.parametrize(
    ("kind", "quantity", "reverses", "expected"),
    [
        ("receipt", D("5"), None, Valuation.FIXED),
        ("opening", D("5"), None, Valuation.FIXED),
        ("receipt", D("-5"), 9, Valuation.AVERAGE),  # a reversed receipt
        ("issue", D("-5"), None, Valuation.AVERAGE),
        ("issue", D("5"), 9, Valuation.RETURN),  # a reversed issue
        ("stocktake", D("5"), None, Valuation.GAIN),
        ("stocktake", D("-5"), None, Valuation.AVERAGE),
    ],
)
def test_how_each_entry_is_valued(kind, quantity, reverses, expected):
    assert costing.valuation_of(kind=kind, quantity=quantity, reverses_id=reverses) == expected


def movement(key, quantity, value, valuation, reverses=None):
    return Movement(key, D(quantity), D(value), valuation, reverses)


def test_a_backdated_receipt_revalues_the_later_issues_in_one_pass():
    # Booked: receipt 10 @ 100 (1,000); issue 5 (−500); receipt 10 @ 130 (1,300); issue 10.
    # Balance after the first receipt: 10 / 1,000. A receipt of 10 @ 160 (1,600) is now
    # backdated to just after that first receipt.
    later = [
        movement(2, "-5", "-500.00", Valuation.AVERAGE),
        movement(3, "10", "1300.00", Valuation.FIXED),
        movement(4, "-10", "-1200.00", Valuation.AVERAGE),  # at 2,400/20 when booked … (see below)
    ]
    series = SeriesCosting(D("10"), D("1000.00"))
    values, changes = series.replay(
        [movement(-1, "10", "1600.00", Valuation.FIXED)], later, {4: D("-66.67")}
    )
    assert values == {-1: D("1600.00")}
    changed = {change.movement.key: (change.value, change.delta) for change in changes}
    # 20 t / 2,600 → issue 5 at 130 = 650; 15 / 1,950 + 10 / 1,300 = 25 / 3,250 → 10 at 1,300
    assert changed == {
        2: (D("-650.00"), D("-150.00")),
        4: (D("-1300.00"), D("-33.33")),  # booked −1,200 − 66.67 earlier = −1,266.67
    }
    assert (series.quantity, series.value) == (D("15"), D("1950.00"))


def test_a_replay_refuses_history_going_negative():
    later = [movement(2, "-8", "-800.00", Valuation.AVERAGE)]
    series = SeriesCosting(D("10"), D("1000.00"))
    values, changes = series.replay([movement(-1, "-3", "0", Valuation.AVERAGE)], later)
    assert values == {-1: D("-300.00")}
    with pytest.raises(NegativeStock) as refused:
        list(changes)
    assert refused.value.key == 2
    assert refused.value.quantity == D("-1")


def test_a_returned_issue_follows_its_revalued_original():
    # receipt 10 @ 1,000; issue 4 (−400) later reversed (+400); a backdated receipt makes the
    # issue cost more, and the reversal brings back exactly what the issue took.
    later = [
        movement(2, "-4", "-400.00", Valuation.AVERAGE),
        movement(3, "4", "400.00", Valuation.RETURN, reverses=2),
        movement(4, "-6", "-600.00", Valuation.AVERAGE),
    ]
    series = SeriesCosting(D("10"), D("1000.00"))
    _values, changes = series.replay([movement(-1, "10", "3000.00", Valuation.FIXED)], later)
    changed = {change.movement.key: change.value for change in changes}
    assert changed == {2: D("-800.00"), 3: D("800.00"), 4: D("-1200.00")}
    assert (series.quantity, series.value) == (D("14"), D("2800.00"))


def test_a_return_of_an_issue_before_the_replay_keeps_its_value():
    later = [movement(3, "4", "400.00", Valuation.RETURN, reverses=1)]
    series = SeriesCosting(D("6"), D("600.00"))
    _values, changes = series.replay([movement(-1, "2", "300.00", Valuation.FIXED)], later)
    assert list(changes) == []
    assert (series.quantity, series.value) == (D("12"), D("1300.00"))


def test_large_numbers_keep_every_digit():
    series = SeriesCosting(D("999999999999.999"), D("9999999999999999.99"))
    value = series.apply(1, D("-333333333333.333"), Valuation.AVERAGE, D("0"))
    assert value == D("-3333333333333333.33")


def test_replaying_ledger_rows_gives_what_replaying_movements_gives():
    """The services stream ledger rows through `replay_entries`; it must follow the same rules
    as `replay` (and so `valuation_of` and `apply`), entry for entry."""
    import datetime
    import random

    rng = random.Random(7)
    day = datetime.date(2026, 1, 1)
    rows: list[tuple[int, datetime.date, str, D, D, int | None]] = []
    issues: list[int] = []
    held = D("50")
    for key in range(1, 400):
        draw = rng.random()
        if draw < 0.4 or held < 5:
            quantity = D(rng.randrange(1, 20))
            rows.append(
                (
                    key,
                    day,
                    "receipt",
                    quantity,
                    costing.money(quantity * rng.randrange(90, 130)),
                    None,
                )
            )
        elif draw < 0.75:
            quantity = D(rng.randrange(1, 5))
            rows.append((key, day, "issue", -quantity, D("-1.00"), None))
            issues.append(key)
        elif draw < 0.85 and issues:
            original = issues.pop(rng.randrange(len(issues)))
            quantity = -next(r[3] for r in rows if r[0] == original)
            rows.append((key, day, "issue", quantity, D("1.00"), original))
        else:
            quantity = D(rng.randrange(-3, 4)) or D(1)
            rows.append((key, day, "stocktake", quantity, D("7.00"), None))
        held += rows[-1][3]
        if held < 0:  # keep the history possible
            rows.pop()
            held -= quantity
    booked = {row[0]: D("0.50") for row in rows[::7]}
    movements = [
        Movement(
            row[0],
            row[3],
            row[4],
            costing.valuation_of(kind=row[2], quantity=row[3], reverses_id=row[5]),
            row[5],
            row[1],
        )
        for row in rows
    ]
    by_movements = SeriesCosting(D("50"), D("5000.00"))
    _values, changes = by_movements.replay([], movements, booked)
    expected = [(change.movement.key, change.value, change.delta) for change in changes]
    by_rows = SeriesCosting(D("50"), D("5000.00"))
    found = [
        (change.movement[0], change.value, change.delta)
        for change in by_rows.replay_entries([rows[:150], rows[150:]], booked)
    ]
    assert found == expected
    assert len(found) > 50
    assert (by_rows.quantity, by_rows.value) == (by_movements.quantity, by_movements.value)
