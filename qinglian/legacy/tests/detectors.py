"""Compact re-statements of the supervision rules over a legacy batch, for testing the
generator: what they find must be exactly what planted.json says was planted (planted cases
found, clean noise silent). They follow the rules' definitions and default parameters (and,
for rules 8 and 12, which are not written yet, the issue's wording); they are not the rules —
once the loader exists, the real rules run on loaded history."""

from __future__ import annotations

import datetime
import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from qinglian.legacy.reader import Batch
from qinglian.trading.facts import (
    normalise_address,
    normalise_bank_account,
    normalise_invoice_number,
    normalise_phone,
)

HUNDRED = Decimal(100)
CONTRACT_THRESHOLDS = (Decimal(1_000_000), Decimal(5_000_000))
REQUEST_THRESHOLDS = {
    "contract": CONTRACT_THRESHOLDS,
    "engineering_payment": (Decimal(1_000_000),),
    "expense": (Decimal(5_000),),
}
BENFORD = {digit: math.log10(1 + 1 / digit) for digit in range(1, 10)}


class Rows:
    """The batch's rows as dicts, per table."""

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self.cache: dict[str, list[dict[str, Any]]] = {}

    def __getitem__(self, table: str) -> list[dict[str, Any]]:
        if table not in self.cache:
            names = self.batch.format[table].column_names
            self.cache[table] = [
                dict(zip(names, row, strict=True)) for row in self.batch.iter_rows(table)
            ]
        return self.cache[table]

    def by(self, table: str, column: str) -> dict[Any, dict[str, Any]]:
        return {row[column]: row for row in self[table]}


class RelatedGroups:
    """Partners joined by a shared normalised bank account, phone or address."""

    def __init__(self, partners: Iterable[dict[str, Any]]) -> None:
        self.parent: dict[str, str] = {}
        holders: dict[tuple[str, str], list[str]] = defaultdict(list)
        for partner in partners:
            for attribute, value in shared_keys(partner).items():
                if value:
                    holders[(attribute, value)].append(partner["code"])
        for codes in holders.values():
            for other in codes[1:]:
                self.join(codes[0], other)

    def root(self, code: str) -> str:
        while self.parent.get(code, code) != code:
            code = self.parent[code]
        return code

    def join(self, one: str, other: str) -> None:
        first, second = sorted((self.root(one), self.root(other)))
        if first != second:
            self.parent[second] = first


def shared_keys(partner: dict[str, Any]) -> dict[str, str]:
    return {
        "bank_account": normalise_bank_account(partner["bank_account"]),
        "phone": normalise_phone(partner["phone"]),
        "address": normalise_address(partner["address"]),
    }


def local(moment: datetime.datetime) -> datetime.datetime:
    return moment.astimezone(datetime.timezone(datetime.timedelta(hours=8)))


# ---------------------------------------------------------------- the rules


def self_approval(rows: Rows) -> set[str]:
    """Requests approved by their requester, or by a person they pay (a payee)."""
    requests = rows.by("approval_requests", "request_id")
    payees: dict[str, set[str]] = defaultdict(set)
    for payment in rows["payments"]:
        if payment["payee_employee"] and payment["approval_request_id"]:
            payees[payment["approval_request_id"]].add(payment["payee_employee"])
    found = set()
    for step in rows["approval_steps"]:
        request = requests[step["request_id"]]
        named = payees[request["request_id"]] - {request["requester"]}
        if step["decision"] == "approved" and (
            step["approver"] == request["requester"] or step["approver"] in named
        ):
            found.add(request["request_id"])
    return found


def split_purchases(rows: Rows) -> set[str]:
    related = RelatedGroups(rows["partners"])
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for contract in rows["contracts"]:
        if contract["kind"] in ("purchase", "sales"):
            key = (contract["company"], contract["kind"], related.root(contract["partner"]))
            groups[key].append(contract)
    found: set[str] = set()
    for members in groups.values():
        used: set[str] = set()
        for threshold in sorted(CONTRACT_THRESHOLDS, reverse=True):
            floor = threshold / 10
            eligible = sorted(
                (
                    c
                    for c in members
                    if c["contract_no"] not in used and floor <= c["amount"] <= threshold
                ),
                key=lambda c: (c["signed_date"], c["contract_no"]),
            )
            start = 0
            while start < len(eligible):
                end = start
                while (
                    end + 1 < len(eligible)
                    and (eligible[end + 1]["signed_date"] - eligible[start]["signed_date"]).days
                    <= 30
                ):
                    end += 1
                group = eligible[start : end + 1]
                if len(group) >= 2 and sum(c["amount"] for c in group) > threshold:
                    found.update(c["contract_no"] for c in group)
                    used.update(c["contract_no"] for c in group)
                    start = end + 1
                else:
                    start += 1
    return found


def threshold_clustering(rows: Rows) -> set[str]:
    by_person: dict[tuple[str, str, Decimal], list[dict[str, Any]]] = defaultdict(list)
    for request in rows["approval_requests"]:
        amount = request["amount"]
        if amount is None:
            continue
        for threshold in REQUEST_THRESHOLDS.get(request["type"], ()):
            if threshold * Decimal("0.9") <= amount <= threshold:
                by_person[(request["requester"], request["type"], threshold)].append(request)
    found: set[str] = set()
    for members in by_person.values():
        members.sort(key=lambda r: r["submitted_at"])
        for index, request in enumerate(members):
            window = [
                other
                for other in members[index:]
                if (other["submitted_at"] - request["submitted_at"]).days <= 90
            ]
            if len(window) >= 3:
                found.update(other["request_id"] for other in window)
    return found


def payment_over_contract(rows: Rows) -> dict[str, set[str]]:
    contracts = rows.by("contracts", "contract_no")
    ceilings: dict[str, Decimal] = defaultdict(Decimal)
    for line in rows["contract_lines"]:
        tolerance = line["qty_tolerance_pct"] or Decimal(0)
        ceilings[line["contract_no"]] += (line["amount"] * (1 + tolerance / HUNDRED)).quantize(
            Decimal("0.01")
        )
    invoiced: dict[str, list[tuple[datetime.date, Decimal]]] = defaultdict(list)
    for invoice in rows["invoices"]:
        if invoice["direction"] == "received" and invoice["contract_no"]:
            invoiced[invoice["contract_no"]].append((invoice["invoice_date"], invoice["amount"]))
    paid: dict[str, list[dict[str, Any]]] = defaultdict(list)
    found: dict[str, set[str]] = defaultdict(set)
    for payment in rows["payments"]:
        if payment["kind"] != "supplier_payment":
            continue
        if payment["contract_no"] is None:
            found["no_contract"].add(payment["payment_id"])
        else:
            paid[payment["contract_no"]].append(payment)
    for contract_no, payments in paid.items():
        contract = contracts[contract_no]
        if contract["kind"] != "purchase":
            continue
        total = Decimal(0)
        for payment in sorted(payments, key=lambda p: (p["paid_date"], p["payment_id"])):
            total += payment["amount"]
            day = payment["paid_date"]
            if contract["effective_date"] is None or day < contract["effective_date"]:
                found["not_effective"].add(contract_no)
            if total > ceilings[contract_no]:
                found["over_contract"].add(contract_no)
            allowed = sum((a for d, a in invoiced[contract_no] if d <= day), Decimal(0))
            if total > allowed:
                found["over_invoiced"].add(contract_no)
    return found


def duplicate_invoices(rows: Rows) -> set[str]:
    found: set[str] = set()
    seen: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    invoices = sorted(rows["invoices"], key=lambda i: i["invoice_id"])
    for invoice in invoices:
        number = normalise_invoice_number(invoice["invoice_no"])
        for earlier in seen[(invoice["direction"], number)]:
            codes = (
                normalise_invoice_number(earlier["invoice_code"]),
                normalise_invoice_number(invoice["invoice_code"]),
            )
            same = codes[0] == codes[1] if all(codes) else earlier["partner"] == invoice["partner"]
            if same:
                found.update((earlier["invoice_id"], invoice["invoice_id"]))
        seen[(invoice["direction"], number)].append(invoice)
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for invoice in invoices:
        key = (invoice["direction"], invoice["partner"], invoice["amount"], invoice["invoice_date"])
        groups[key].append(invoice)
    for members in groups.values():
        numbers = {normalise_invoice_number(i["invoice_no"]): i for i in members if i["invoice_no"]}
        if len(numbers) < 2:
            continue
        digits = sorted(int(n) for n in numbers if n.isdigit())
        if all(b - a <= 20 for a, b in itertools.pairwise(digits)) and len(digits) == len(numbers):
            continue
        found.update(i["invoice_id"] for i in members)
    return found


def status_on(history: list[tuple[datetime.date, str]], day: datetime.date) -> str:
    status = "pending"
    for valid_from, value in history:
        if valid_from <= day:
            status = value
    return status


def supplier_not_admitted(rows: Rows) -> set[str]:
    history: dict[str, list[tuple[datetime.date, str]]] = defaultdict(list)
    for row in sorted(rows["partner_status_history"], key=lambda r: r["valid_from"]):
        history[row["partner"]].append((row["valid_from"], row["status"]))
    expiry = {p["code"]: p["qualification_expiry"] for p in rows["partners"]}
    uses: list[tuple[str, datetime.date]] = []
    for contract in rows["contracts"]:
        if contract["kind"] == "purchase" and contract["status"] in ("effective", "completed"):
            uses.append((contract["partner"], contract["signed_date"]))
    for receipt in rows["goods_receipts"]:
        uses.append((receipt["partner"], local(receipt["received_at"]).date()))
    for payment in rows["payments"]:
        if payment["kind"] == "supplier_payment":
            uses.append((payment["partner"], payment["paid_date"]))
    found = set()
    for partner, day in uses:
        expired = expiry.get(partner)
        if status_on(history[partner], day) != "admitted" or (expired and expired < day):
            found.add(partner)
    return found


def related_parties(rows: Rows) -> set[str]:
    employees: dict[tuple[str, str], set[str]] = defaultdict(set)
    for person in rows["employees"]:
        employees["phone", normalise_phone(person["phone"])].add(person["employee_no"])
        employees["bank_account", normalise_bank_account(person["bank_account"])].add(
            person["employee_no"]
        )
        employees["address", normalise_address(person["home_address"])].add(person["employee_no"])
    holders: dict[tuple[str, str], set[str]] = defaultdict(set)
    found = set()
    for partner in rows["partners"]:
        for attribute, value in shared_keys(partner).items():
            if value:
                holders[(attribute, value)].add(partner["code"])
                if employees.get((attribute, value)):
                    found.add(partner["code"])
    for codes in holders.values():
        if len(codes) > 1:
            found.update(codes)
    return found


def credit_exceptions(rows: Rows) -> set[str]:
    by_customer: dict[str, list[datetime.datetime]] = defaultdict(list)
    for request in rows["approval_requests"]:
        if request["type"] == "credit_exception":
            by_customer[request["subject_id"]].append(request["submitted_at"])
    found = set()
    for customer, moments in by_customer.items():
        moments.sort()
        for index, first in enumerate(moments):
            if len([m for m in moments[index:] if (m - first).days <= 365]) >= 3:
                found.add(customer)
    return found


def credit_exception_approvers(rows: Rows) -> set[str]:
    """Rule 8's other count: one final approver granting five exceptions within 30 days."""
    requests = rows.by("approval_requests", "request_id")
    last: dict[str, dict[str, Any]] = {}
    for step in sorted(rows["approval_steps"], key=lambda s: (s["request_id"], s["seq"])):
        if requests[step["request_id"]]["type"] == "credit_exception":
            last[step["request_id"]] = step
    by_approver: dict[tuple[str, str], list[datetime.datetime]] = defaultdict(list)
    for request_id, step in last.items():
        if requests[request_id]["status"] == "approved":
            key = (requests[request_id]["company"], step["approver"])
            by_approver[key].append(step["decided_at"])
    found = set()
    for (_company, approver), moments in by_approver.items():
        moments.sort()
        for index, first in enumerate(moments):
            if len([m for m in moments[index:] if (m - first).days < 30]) >= 5:
                found.add(approver)
    return found


def stock_documents(rows: Rows) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for kind, header, lines, number in (
        ("receipt", "goods_receipts", "goods_receipt_lines", "receipt_no"),
        ("issue", "goods_issues", "goods_issue_lines", "issue_no"),
    ):
        documents = rows.by(header, number)
        for line in rows[lines]:
            yield kind, documents[line[number]], line


def price_anomalies(rows: Rows) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    rates = {c["code"]: c["tax_rate"] for c in rows["commodities"]}
    events = []
    for kind, document, line in stock_documents(rows):
        at = document["received_at" if kind == "receipt" else "issued_at"]
        events.append((at, 0 if kind == "receipt" else 1, kind, document, line))
    for take in rows["stocktakes"]:
        events.append((take["counted_at"], 2, "stocktake", take, take))
    stock: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for row in rows["opening_stock"]:
        rate = rates[row["commodity"]]
        stock[(row["warehouse"], row["commodity"])] = [
            row["qty"],
            row["qty"] * row["unit_cost"] / (1 + rate),
        ]
    months: dict[tuple[str, str, datetime.date], list[tuple[Decimal, Decimal]]] = defaultdict(list)
    lines = []
    for at, _order, kind, document, line in sorted(events, key=lambda e: (e[0], e[1])):
        key = (document["warehouse"], line["commodity"])
        held = stock[key]
        if kind == "stocktake":
            held[1] = held[1] * line["counted_qty"] / held[0] if held[0] else Decimal(0)
            held[0] = line["counted_qty"]
            continue
        rate = rates[line["commodity"]]
        net = line["amount"] / (1 + rate)
        if kind == "receipt":
            held[0] += line["doc_qty"]
            held[1] += net
        else:
            cost = held[1] * line["doc_qty"] / held[0]
            if net.quantize(Decimal("0.01")) < cost.quantize(Decimal("0.01")):
                found["below_cost"].add(document["issue_no"])
            held[1] -= cost
            held[0] -= line["doc_qty"]
        month = (kind, line["commodity"], local(at).date().replace(day=1))
        months[month].append((line["doc_qty"], net))
        lines.append((month, kind, document, line, net))
    for month, kind, document, line, net in lines:
        members = months[month]
        if len(members) < 5:
            continue
        quantity = sum(q for q, _n in members) - line["doc_qty"]
        value = sum(n for _q, n in members) - net
        if quantity <= 0:
            continue
        average = value / quantity
        off = (net / line["doc_qty"] - average) * HUNDRED / average
        if (kind == "receipt" and off > 20) or (kind == "issue" and -off > 20):
            found["off_average"].add(document["receipt_no" if kind == "receipt" else "issue_no"])
    return found


def quantity_variances(rows: Rows) -> dict[str, set[str]]:
    tolerance = {c["code"]: c["tolerance_pct"] for c in rows["commodities"]}
    found: dict[str, set[str]] = defaultdict(set)
    for kind, document, line in stock_documents(rows):
        if line["weighed_qty"] is None:
            continue
        difference = abs(line["weighed_qty"] - line["doc_qty"]) * HUNDRED / line["doc_qty"]
        if difference > tolerance[line["commodity"]]:
            found["weighing"].add(document["receipt_no" if kind == "receipt" else "issue_no"])
    for take in rows["stocktakes"]:
        book, counted = take["book_qty"], take["counted_qty"]
        if book == 0:
            if counted:
                found["stocktake"].add(take["stocktake_id"])
        elif abs(counted - book) * HUNDRED / book > tolerance[take["commodity"]]:
            found["stocktake"].add(take["stocktake_id"])
    return found


def unusual_timing(rows: Rows) -> set[str]:
    requests = rows.by("approval_requests", "request_id")
    steps: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for step in rows["approval_steps"]:
        steps[step["request_id"]].append(step)
    found = set()
    for request_id, route in steps.items():
        request = requests[request_id]
        amount = request["amount"]
        if amount is None:
            continue
        arrived = request["submitted_at"]
        for step in sorted(route, key=lambda s: s["seq"]):
            decided = local(step["decided_at"])
            after_hours = decided.weekday() >= 5 or not (8 <= decided.hour < 19)
            seconds = (step["decided_at"] - arrived).total_seconds()
            if (after_hours and amount >= 50_000) or (seconds <= 60 and amount >= 100_000):
                found.add(request_id)
            arrived = step["decided_at"]
    return found


def overdue_shipments(rows: Rows) -> set[str]:
    receivables: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for receivable in rows["receivables"]:
        receivables[receivable["customer"]].append(receivable)
    found = set()
    for issue in rows["goods_issues"]:
        day = local(issue["issued_at"]).date()
        for receivable in receivables[issue["partner"]]:
            due, settled = receivable["due_date"], receivable["settled_date"]
            if due is not None and due < day and (settled is None or settled > day):
                found.add(issue["issue_no"])
    return found


def contract_execution(rows: Rows) -> dict[str, set[str]]:
    contracts = rows.by("contracts", "contract_no")
    found: dict[str, set[str]] = defaultdict(set)
    executed: Counter[tuple[str, int]] = Counter()
    for kind, document, line in stock_documents(rows):
        contract_no = document["contract_no"]
        if contract_no is None:
            continue
        contract = contracts[contract_no]
        day = local(document["received_at" if kind == "receipt" else "issued_at"]).date()
        effective, terminated = contract["effective_date"], contract["terminated_date"]
        if effective is None or day < effective or (terminated and day > terminated):
            found["not_effective"].add(contract_no)
        if line["contract_no"] is not None:
            executed[(line["contract_no"], line["contract_line_no"])] += line["doc_qty"]
    for line in rows["contract_lines"]:
        done = executed.get((line["contract_no"], line["line_no"]))
        if done is None or line["quantity"] is None:
            continue
        tolerance = line["qty_tolerance_pct"] or Decimal(0)
        if done > line["quantity"] * (1 + tolerance / HUNDRED):
            found["over_executed"].add(line["contract_no"])
    return found


def contracts_not_in_force(rows: Rows) -> set[str]:
    """Rule 16 as the loaded history feeds it: trading's "contract not effective" warning (a
    kind inspectors follow at once) — goods booked against a contract before it took effect or
    after it ended (expiry or termination), money before it took effect, anything against a
    contract that never did."""
    contracts = rows.by("contracts", "contract_no")
    found = set()
    bookings = [
        (document["contract_no"], local(document[moment]).date(), True)
        for table, moment in (("goods_receipts", "received_at"), ("goods_issues", "issued_at"))
        for document in rows[table]
    ]
    bookings += [
        (payment["contract_no"], payment["paid_date"], False) for payment in rows["payments"]
    ]
    for contract_no, day, goods in bookings:
        if contract_no is None:
            continue
        contract = contracts[contract_no]
        effective = contract["effective_date"]
        ends = [end for end in (contract["end_date"], contract["terminated_date"]) if end]
        if effective is None or day < effective or (goods and ends and day > min(ends)):
            found.add(contract_no)
    return found


def benford(rows: Rows) -> set[tuple[str, int]]:
    counts: dict[tuple[str, int], Counter[int]] = defaultdict(Counter)
    for request in rows["approval_requests"]:
        if request["status"] != "approved" or request["type"] not in (
            "expense",
            "engineering_payment",
        ):
            continue
        amount = request["amount"]
        if amount is None or amount < 10:
            continue
        digit = int(str(amount).lstrip("0.")[0])
        counts[(request["company"], local(request["submitted_at"]).year)][digit] += 1
    found = set()
    for key, digits in counts.items():
        total = sum(digits.values())
        if total < 300:
            continue
        mad = sum(abs(digits[d] / total - BENFORD[d]) for d in BENFORD) / 9
        if mad > 0.015:
            found.add(key)
    return found


def supplier_concentration(rows: Rows) -> set[tuple[str, int, str]]:
    related = RelatedGroups(rows["partners"])
    totals: Counter[tuple[str, int]] = Counter()
    shares: dict[tuple[str, int], Counter[str]] = defaultdict(Counter)
    amounts: Counter[str] = Counter()
    for line in rows["goods_receipt_lines"]:
        amounts[line["receipt_no"]] += line["amount"]
    for receipt in rows["goods_receipts"]:
        key = (receipt["company"], local(receipt["received_at"]).year)
        totals[key] += amounts[receipt["receipt_no"]]
        shares[key][related.root(receipt["partner"])] += amounts[receipt["receipt_no"]]
    found = set()
    for key, total in totals.items():
        if total < 1_000_000:
            continue
        for root, amount in shares[key].items():
            if amount * 2 > total:
                found.add((*key, root))
    return found
