"""Moving-average costing of one stock series (company, warehouse, commodity), without the ORM.

The rules (one place, used by every posting and by the revaluation after a backdated entry):

- an inflow at its own value: a goods receipt at its price net of VAT, opening stock at its
  unit cost;
- an outflow (a goods issue, a reversed receipt, a stocktake loss) at the moving average of the
  moment: quantity × value / quantity of the series, to the cent; an outflow that empties the
  series takes the whole remaining value, so no value is ever left without goods;
- a reversed issue brings its goods back at the cost they left with (the reversed entry's
  value, revaluations included);
- a stocktake gain at the moving average, or at its own value when the series is empty.

So the value of a series never drops below zero and is zero whenever its quantity is.

`SeriesCosting.replay` is the one-pass recurrence after a backdated entry: given the balance
just before it, the new movements, and the later movements in ledger order, it values the new
ones, finds every later movement whose value changes (its revaluation delta), checks that the
quantity never falls below zero on the way, and ends on the new balance.
"""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Iterable, Iterator, Sequence
from decimal import ROUND_HALF_UP, Decimal
from enum import IntEnum
from typing import Any, NamedTuple

CENT = Decimal("0.01")
MILLI = Decimal("0.001")
PRICE = Decimal("0.0001")
ZERO = Decimal("0")
# Quantities (18.3) times values (18.2) need more digits than the default context's 28.
CONTEXT = decimal.Context(prec=40, rounding=ROUND_HALF_UP)


class Valuation(IntEnum):
    FIXED = 1  # an inflow at its own value
    AVERAGE = 2  # an outflow at the moving average
    RETURN = 3  # a reversed issue: minus the reversed entry's value
    GAIN = 4  # a stocktake gain: at the average, or its own value when the series is empty


def valuation_of(*, kind: str, quantity: Decimal, reverses_id: int | None) -> Valuation:
    """How an entry of the ledger is valued (kinds as in StockEntryKind)."""
    if quantity < 0:
        return Valuation.AVERAGE
    if kind == "issue" and reverses_id is not None:
        return Valuation.RETURN
    if kind == "stocktake":
        return Valuation.GAIN
    return Valuation.FIXED


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP, context=CONTEXT)


def amount_of(quantity: Decimal, unit_price: Decimal) -> Decimal:
    """An amount incl. VAT: quantity × unit price, to the cent."""
    return money(CONTEXT.multiply(quantity, unit_price))


def net_value(quantity: Decimal, unit_price: Decimal, tax_rate: Decimal) -> Decimal:
    """The stock value of received goods: quantity × unit price net of VAT, to the cent."""
    return money(CONTEXT.divide(CONTEXT.multiply(quantity, unit_price), 1 + tax_rate))


def difference_percent(quantity: Decimal, weighed: Decimal) -> Decimal:
    """How far the weighbridge is from the document quantity, in % of the document quantity."""
    if quantity == 0:
        return ZERO if weighed == 0 else Decimal("100")
    return abs(CONTEXT.divide(CONTEXT.multiply(weighed - quantity, 100), quantity))


def contract_allowance(quantity: Decimal, tolerance_percent: Decimal) -> Decimal:
    """The most a contract line may be executed: its quantity plus the tolerance."""
    extra = CONTEXT.divide(CONTEXT.multiply(quantity, tolerance_percent), 100)
    return (quantity + extra).quantize(MILLI, rounding=decimal.ROUND_DOWN, context=CONTEXT)


class NegativeStock(Exception):
    """The series would hold less than nothing after `key` (on `on`)."""

    def __init__(self, key: int, on: datetime.date | None, quantity: Decimal) -> None:
        super().__init__(f"stock would be {quantity} after movement {key}")
        self.key = key
        self.on = on
        self.quantity = quantity


class Movement(NamedTuple):
    """One entry of a series as costing sees it. `key` is the ledger entry id (or a caller's
    placeholder for a new one); `value` is its booked value; `reverses` the key of the issue a
    RETURN brings back; `ref` whatever the caller wants back with a change (its row)."""

    key: int
    quantity: Decimal
    value: Decimal
    valuation: Valuation
    reverses: int | None = None
    on: datetime.date | None = None
    ref: Any = None


class Change(NamedTuple):
    movement: Any  # the Movement — or, from replay_entries, the ledger row
    value: Decimal  # the movement's value now
    delta: Decimal  # what it changed by (the revaluation entry's value)


class SeriesCosting:
    """The running balance of one series under moving-average costing."""

    __slots__ = ("quantity", "value")

    def __init__(self, quantity: Decimal = ZERO, value: Decimal = ZERO) -> None:
        self.quantity = quantity
        self.value = value

    def average(self) -> Decimal | None:
        if self.quantity <= 0:
            return None
        return CONTEXT.divide(self.value, self.quantity)

    def apply(
        self,
        key: int,
        quantity: Decimal,
        valuation: Valuation,
        own_value: Decimal,
        returned_value: Decimal | None = None,
        on: datetime.date | None = None,
    ) -> Decimal:
        """Apply one movement; return its value. `own_value` is the value a FIXED or GAIN
        movement brings; `returned_value` the reversed issue's value (negative) for RETURN."""
        held, worth = self.quantity, self.value
        after = held + quantity
        if after < 0:
            raise NegativeStock(key, on, after)
        if valuation == Valuation.AVERAGE:
            if after == 0:
                value = -worth
            else:
                value = -money(CONTEXT.divide(CONTEXT.multiply(-quantity, worth), held))
        elif valuation == Valuation.RETURN:
            value = -(returned_value if returned_value is not None else -own_value)
        elif valuation == Valuation.GAIN and held > 0:
            value = money(CONTEXT.divide(CONTEXT.multiply(quantity, worth), held))
        else:
            value = own_value
        self.quantity = after
        self.value = worth + value
        return value

    def replay(
        self,
        new: Iterable[Movement],
        later: Iterable[Movement],
        revaluations: dict[int, Decimal] | None = None,
    ) -> tuple[dict[int, Decimal], Iterator[Change]]:
        """Value the `new` movements at this balance, then re-cost the `later` ones.

        Returns the new movements' values, and an iterator of the later movements whose value
        changes (consume it fully: the balance is final only then). `later` movements carry
        their booked value without revaluations; `revaluations` maps a key to the sum of the
        revaluations already booked for it. Raises NegativeStock at the first point where the
        quantity would fall below zero."""
        values: dict[int, Decimal] = {}
        for movement in new:
            values[movement.key] = self.apply(
                movement.key,
                movement.quantity,
                movement.valuation,
                movement.value,
                on=movement.on,
            )
        return values, self._changes(later, revaluations or {})

    def _changes(self, later: Iterable[Movement], booked: dict[int, Decimal]) -> Iterator[Change]:
        """`apply` for each later movement, written out in one loop: this runs once per entry
        of a series that may hold millions (same rules, same results — the tests hold both to
        each other)."""
        # The values of re-costed issues, for the reversals that bring their goods back.
        recosted: dict[int, Decimal] = {}
        average, returned, gain = Valuation.AVERAGE, Valuation.RETURN, Valuation.GAIN
        held, worth = self.quantity, self.value
        cent = CENT
        no_revaluation = ZERO
        make = tuple.__new__  # Change(...) without the named tuple's Python-level __new__
        with decimal.localcontext(CONTEXT):
            for movement in later:
                key, quantity, value, valuation, reverses, on, _ref = movement
                current = value + booked.get(key, no_revaluation) if booked else value
                after = held + quantity
                if after < 0:
                    self.quantity, self.value = held, worth
                    raise NegativeStock(key, on, after)
                if valuation == average:
                    value = -worth if after == 0 else -(-quantity * worth / held).quantize(cent)
                    recosted[key] = value
                elif valuation == returned:
                    original = recosted.get(reverses) if reverses is not None else None
                    # an issue before the replay keeps its value: so does its reversal
                    value = -original if original is not None else current
                elif valuation == gain and held > 0:
                    value = (quantity * worth / held).quantize(cent)
                else:
                    value = current
                held = after
                worth += value
                if value != current:
                    self.quantity, self.value = held, worth
                    yield make(Change, (movement, value, value - current))
        self.quantity, self.value = held, worth

    def replay_entries(
        self,
        batches: Iterable[Sequence[Sequence[Any]]],
        booked: dict[int, Decimal] | None = None,
    ) -> Iterator[Change]:
        """`replay` for ledger rows as the database gives them, without building a Movement
        per row (a series may hold millions): batches of rows laid out as (entry id, date,
        kind, signed quantity, booked value, id of the entry it reverses, …); each row is
        valued as `valuation_of` says. The changes carry the row as their `movement`. Apply
        the new movements first (`apply`, or `replay` with no later ones)."""
        recosted: dict[int, Decimal] = {}
        held, worth = self.quantity, self.value
        cent = CENT
        booked = booked or {}
        no_revaluation = ZERO
        make = tuple.__new__
        with decimal.localcontext(CONTEXT):
            for batch in batches:
                for row in batch:
                    key, on, kind, quantity, value = row[0], row[1], row[2], row[3], row[4]
                    current = value + booked.get(key, no_revaluation) if booked else value
                    after = held + quantity
                    if after < 0:
                        self.quantity, self.value = held, worth
                        raise NegativeStock(key, on, after)
                    if quantity < 0:  # an outflow, at the average
                        value = -worth if after == 0 else -(-quantity * worth / held).quantize(cent)
                        recosted[key] = value
                    elif kind == "issue" and row[5] is not None:  # a returned issue
                        original = recosted.get(row[5])
                        value = -original if original is not None else current
                    elif kind == "stocktake" and held > 0:  # a gain, at the average
                        value = (quantity * worth / held).quantize(cent)
                    else:
                        value = current
                    held = after
                    worth += value
                    if value != current:
                        self.quantity, self.value = held, worth
                        yield make(Change, (row, value, value - current))
        self.quantity, self.value = held, worth
