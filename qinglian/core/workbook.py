"""Excel (.xlsx) imports, the generic part: describe the sheets, read an upload into rows of
text, collect every problem by sheet, row and column, write the blank template.

An importer has three steps, all or nothing (see qinglian/org/importing.py and
qinglian/trading/importing.py for complete examples):

1. Describe each sheet::

       ITEMS = SheetSpec(
           key="items",               # also accepted as the sheet name
           name="商品",               # the sheet name in the template
           label=gettext_lazy("Commodities"),
           columns=(
               Column("code", "编码", gettext_lazy("Code"), gettext_lazy("Unique, ≤ 40."),
                      "唯一，最多 40 个字符。", required=True, model=Commodity, model_field="code"),
               Column("rate", "税率", gettext_lazy("VAT rate"), gettext_lazy("0.13 or 13%."),
                      "0.13 或 13%。"),
           ),
           examples=(("STEEL", "0.13"),),
       )

2. Read and check::

       book = read_workbook(upload, sheets=(ITEMS,), filename=upload.name)  # WorkbookRejected
       problems = Problems(book)
       for row in book.rows(ITEMS):
           problems.check_fields(ITEMS, row)  # required, lengths, the model field's validators
           rate = problems.decimal(ITEMS, row, "rate", places=4, percent_sign="fraction")
           if row.values["code"] in existing:
               problems.error(ITEMS, row, "code", _("Already exists."))
       problems.check_unique_in_file(ITEMS, book.rows(ITEMS), "code")
       problems.raise_if_any()  # WorkbookRejected with every problem, sorted

   `Problems` also parses `integer`, `date` (2026-03-31, 2026/3/31, Excel dates) and `choice`
   (accepted words -> stored value) cells, and says `already_exists`; each records a problem
   and returns None for a cell it cannot read. Subclass it for an importer's own checks.

3. Write in one transaction through the services; `call_for_row` turns a service's refusal
   into a RowFailed naming the row (and the column the error's field came from, via
   `field_columns`), which the importer turns into WorkbookRejected::

       try:
           with transaction.atomic():
               for row in book.rows(ITEMS):
                   call_for_row(book, ITEMS, row, services.commodity_create, actor=actor, ...)
       except RowFailed as failure:
           raise WorkbookRejected(failure.problems) from failure

`template_workbook(sheets, title=..., notes=[...])` returns the blank template (.xlsx bytes):
one sheet per spec with its headers (required ones in red), a comment per header and the grey
example rows, and a 说明 sheet describing every column in Chinese and English.

Every cell is read as text (`cell_text`): numbers typed into text columns lose their ".0",
dates read as ISO dates. Headers match a column's Chinese header or its key, ignoring a trailing
"*" and anything in brackets ("数量 (t)" reads as "数量"). Blank rows are skipped; data in a
column without a header is an error; a file over `max_bytes` or a sheet with more than
`max_rows` rows is refused.
"""

from __future__ import annotations

import datetime
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO, Any, Literal

from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.db.models import Model
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .errors import ApplicationError, ValidationFailed

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_ROWS_PER_SHEET",
    "XLSX_CONTENT_TYPE",
    "Column",
    "ImportProblem",
    "Problems",
    "RowFailed",
    "SheetData",
    "SheetRow",
    "SheetSpec",
    "WorkbookData",
    "WorkbookRejected",
    "call_for_row",
    "cell_text",
    "read_workbook",
    "service_problems",
    "template_workbook",
]

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS_PER_SHEET = 5000
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Rows scanned per sheet at most, blank ones included, as a multiple of the row limit (a guard
# against sheets formatted down to row 1,048,576).
SCANNED_ROWS_FACTOR = 4

# ---------------------------------------------------------------- the workbook layout


@dataclass(frozen=True)
class Column:
    key: str  # also accepted as a header ("employee_number")
    header: str  # the Chinese header matched in the file
    label: Promise | str  # English name for pages (translated)
    help: Promise | str  # English rule for pages (translated)
    help_zh: str  # the rule in Chinese, for the template's 说明 sheet
    required: bool = False
    model: type[Model] | None = None  # the field whose validators (length, format) apply
    model_field: str = ""
    max_length: int | None = None  # for columns without a model field

    def validators_field(self) -> Any:
        return self.model._meta.get_field(self.model_field) if self.model else None


@dataclass(frozen=True)
class SheetSpec:
    key: str  # "companies": also accepted as the sheet name
    name: str  # 单位
    label: Promise | str
    columns: tuple[Column, ...]
    examples: tuple[tuple[str, ...], ...] = ()

    def column(self, key: str) -> Column:
        return next(column for column in self.columns if column.key == key)

    def match(self, header: str) -> Column | None:
        text = header_text(header)
        for column in self.columns:
            if text == column.header or text.casefold().replace(" ", "_") == column.key:
                return column
        return None

    def matches_sheet(self, title: str) -> bool:
        name = title.strip()
        return name in (self.name, self.key) or name.lower() == self.key


def header_text(value: str) -> str:
    """'姓名', '姓名*', '姓名 (name)' and '姓名\\n（name）' all read as '姓名'."""
    text = re.split(r"[（(\n]", value, maxsplit=1)[0]
    return text.strip().strip("*＊").strip()


# ---------------------------------------------------------------- problems


@dataclass(frozen=True)
class ImportProblem:
    message: str
    sheet: str = ""
    row: int | None = None
    column: str = ""  # the column letter as Excel shows it
    header: str = ""

    @property
    def location(self) -> str:
        if self.row is not None and self.column:
            return _("%(sheet)s row %(row)d, column %(column)s (%(header)s)") % {
                "sheet": self.sheet,
                "row": self.row,
                "column": self.column,
                "header": self.header,
            }
        if self.row is not None:
            return _("%(sheet)s row %(row)d") % {"sheet": self.sheet, "row": self.row}
        if self.column:
            return _("%(sheet)s column %(column)s (%(header)s)") % {
                "sheet": self.sheet,
                "column": self.column,
                "header": self.header,
            }
        return self.sheet

    def __str__(self) -> str:
        location = self.location
        return f"{location}: {self.message}" if location else self.message


class WorkbookRejected(ValidationFailed):
    """The workbook was refused; `problems` says where and why. Nothing was written.

    `fields` carries the problems too ("<location>" -> [message]), so the API's error shape
    lists them."""

    def __init__(self, problems: list[ImportProblem]) -> None:
        fields: dict[str, list[str]] = {}
        for problem in problems:
            fields.setdefault(problem.location or "file", []).append(problem.message)
        super().__init__(
            ngettext(
                "The workbook was not imported: %(count)d problem found.",
                "The workbook was not imported: %(count)d problems found.",
                len(problems),
            )
            % {"count": len(problems)},
            fields=fields,
        )
        self.problems = problems


# ---------------------------------------------------------------- reading


@dataclass
class SheetRow:
    number: int  # as Excel shows it
    values: dict[str, str]  # column key -> the cell as text ("" when blank or absent)


@dataclass
class SheetData:
    spec: SheetSpec
    letters: dict[str, str]  # column key -> its letter in this file
    rows: list[SheetRow]


@dataclass
class WorkbookData:
    sheets: dict[str, SheetData] = field(default_factory=dict)  # spec key -> data

    def rows(self, spec: SheetSpec) -> list[SheetRow]:
        sheet = self.sheets.get(spec.key)
        return sheet.rows if sheet else []

    def letter(self, spec: SheetSpec, key: str) -> str:
        sheet = self.sheets.get(spec.key)
        return sheet.letters.get(key, "") if sheet else ""


def cell_text(value: Any) -> str:
    """A cell as text: numbers typed into text columns lose their '.0', dates read ISO."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time():
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value).strip()


def _not_xlsx() -> WorkbookRejected:
    return WorkbookRejected(
        [
            ImportProblem(
                _(
                    "Only Excel workbooks (.xlsx) can be imported. Save .xls, .csv or .et files "
                    "as .xlsx first."
                )
            )
        ]
    )


def _read_bytes(source: bytes | IO[bytes], max_bytes: int) -> bytes:
    data = source if isinstance(source, bytes) else source.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise WorkbookRejected(
            [
                ImportProblem(
                    _("The file is larger than %(size)d MB.") % {"size": max_bytes // 2**20}
                )
            ]
        )
    return data


def read_workbook(
    source: bytes | IO[bytes],
    *,
    sheets: Sequence[SheetSpec],
    filename: str = "",
    max_bytes: int = MAX_FILE_BYTES,
    max_rows: int = MAX_ROWS_PER_SHEET,
) -> WorkbookData:
    """The sheets of `sheets` found in the upload, as rows of text (other sheets are ignored;
    absent ones read as no rows). Raises WorkbookRejected for a file that is too big, not an
    .xlsx, unreadable, without any of the sheets, with a sheet twice, with unknown, duplicate or
    missing required headers, with data in a column without a header, or with too many rows."""
    if filename and not filename.lower().endswith(".xlsx"):
        raise _not_xlsx()
    data = _read_bytes(source, max_bytes)
    if not data:
        raise WorkbookRejected([ImportProblem(_("The file is empty."))])
    if not data.startswith(b"PK\x03\x04"):
        raise _not_xlsx()
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            return _read_sheets(workbook, sheets, max_rows)
        finally:
            workbook.close()
    except WorkbookRejected:
        raise
    except Exception as error:  # whatever breaks on an untrusted file: it is unreadable
        raise WorkbookRejected(
            [ImportProblem(_("The file could not be read as an Excel workbook."))]
        ) from error


def _read_sheets(workbook: Any, specs: Sequence[SheetSpec], max_rows: int) -> WorkbookData:
    problems: list[ImportProblem] = []
    book = WorkbookData()
    found: dict[str, str] = {}
    for title in workbook.sheetnames:
        spec = next((s for s in specs if s.matches_sheet(title)), None)
        if spec is None:
            continue  # 说明 and any other sheet are ignored
        if spec.key in found:
            problems.append(
                ImportProblem(
                    _("The sheet appears twice (“%(first)s” and “%(second)s”).")
                    % {"first": found[spec.key], "second": title},
                    sheet=spec.name,
                )
            )
            continue
        found[spec.key] = title
        book.sheets[spec.key] = _read_sheet(spec, workbook[title], problems, max_rows)
    if not found:
        problems.append(
            ImportProblem(
                _("The workbook has none of the sheets %(names)s.")
                % {"names": "、".join(s.name for s in specs)}
            )
        )
    if problems:
        raise WorkbookRejected(problems)
    return book


def _read_sheet(
    spec: SheetSpec, worksheet: Any, problems: list[ImportProblem], max_rows: int
) -> SheetData:
    from openpyxl.utils import get_column_letter

    worksheet.reset_dimensions()  # some writers declare a wrong size; read what is there
    rows: Iterator[tuple[Any, ...]] = worksheet.iter_rows(values_only=True)
    header = next(rows, None) or ()
    positions: dict[str, int] = {}
    letters: dict[str, str] = {}
    headerless: set[int] = set()
    for index, cell in enumerate(header):
        text = cell_text(cell)
        letter = get_column_letter(index + 1)
        if not text:
            headerless.add(index)
            continue
        column = spec.match(text)
        if column is None:
            problems.append(
                ImportProblem(
                    _("Unknown column “%(header)s”; see the template for the column names.")
                    % {"header": text},
                    sheet=spec.name,
                    row=1,
                    column=letter,
                    header=text,
                )
            )
        elif column.key in positions:
            problems.append(
                ImportProblem(
                    _("The column appears twice (also column %(other)s).")
                    % {"other": letters[column.key]},
                    sheet=spec.name,
                    row=1,
                    column=letter,
                    header=column.header,
                )
            )
        else:
            positions[column.key] = index
            letters[column.key] = letter
    for column in spec.columns:
        if column.required and column.key not in positions:
            problems.append(
                ImportProblem(
                    _("The required column “%(header)s” is missing from the header row (row 1).")
                    % {"header": column.header},
                    sheet=spec.name,
                )
            )
    data = SheetData(spec, letters, [])
    if not positions:
        return data
    reported_headerless: set[int] = set()
    for number, values in enumerate(rows, start=2):
        if number > SCANNED_ROWS_FACTOR * max_rows + 1:
            problems.append(_too_many_rows(spec, max_rows))
            break
        texts = {
            key: cell_text(values[index]) if index < len(values) else ""
            for key, index in positions.items()
        }
        for index, value in enumerate(values):
            outside = index >= len(header) or index in headerless
            if outside and index not in reported_headerless and cell_text(value):
                reported_headerless.add(index)
                problems.append(
                    ImportProblem(
                        _("This column has data but no header in row 1."),
                        sheet=spec.name,
                        row=number,
                        column=get_column_letter(index + 1),
                        header="",
                    )
                )
        if not any(texts.values()):
            continue  # blank rows are skipped
        if len(data.rows) >= max_rows:
            problems.append(_too_many_rows(spec, max_rows))
            break
        data.rows.append(SheetRow(number, texts))
    return data


def _too_many_rows(spec: SheetSpec, max_rows: int) -> ImportProblem:
    return ImportProblem(
        _("More than %(count)d rows; split the workbook into several imports.")
        % {"count": max_rows},
        sheet=spec.name,
    )


# ---------------------------------------------------------------- checking


_THOUSANDS = re.compile(r"[,，\s]")
# Larger numbers than any money or quantity field holds (18 digits) are refused outright.
_MAX_INTEGER_DIGITS = 17


class Problems:
    """Collects the problems of a workbook while an importer checks it, each naming its sheet,
    row, column letter (as in this file) and header. Value parsers return None (and record a
    problem) when a cell does not hold what the column needs; a blank cell gives None and a
    problem only when the column is required (already reported by `check_fields`, so call
    either, not both, for a required column)."""

    def __init__(self, book: WorkbookData, sheets: Sequence[SheetSpec] = ()) -> None:
        self.book = book
        self.sheets = tuple(sheets)  # the order problems are sorted in (default: as found)
        self.problems: list[ImportProblem] = []

    def __bool__(self) -> bool:
        return bool(self.problems)

    def error(self, spec: SheetSpec, row: SheetRow | None, key: str, message: str) -> None:
        """A problem of a cell (`key` is the column's key), or of a whole row (key "")."""
        column = spec.column(key) if key else None
        self.problems.append(
            ImportProblem(
                message,
                sheet=spec.name,
                row=row.number if row is not None else None,
                column=self.book.letter(spec, key) if key else "",
                header=column.header if column else "",
            )
        )

    def check_fields(self, spec: SheetSpec, row: SheetRow) -> None:
        """Required values, lengths and the model fields' own validators."""
        for column in spec.columns:
            value = row.values.get(column.key, "")
            if not value:
                if column.required:
                    self.error(spec, row, column.key, _("This field is required."))
                continue
            model_field = column.validators_field()
            if model_field is not None:
                try:
                    model_field.run_validators(value)
                except ValidationError as error:
                    for message in error.messages:
                        self.error(spec, row, column.key, message)
            elif column.max_length is not None and len(value) > column.max_length:
                self.error(
                    spec,
                    row,
                    column.key,
                    _("At most %(limit)d characters (this value has %(count)d).")
                    % {"limit": column.max_length, "count": len(value)},
                )

    def check_unique_in_file(
        self,
        spec: SheetSpec,
        rows: Iterable[SheetRow],
        key: str,
        normalise: Callable[[str], Any] = lambda value: value,
    ) -> None:
        """A value of column `key` repeated on a later row is a problem of that row."""
        seen: dict[Any, int] = {}
        for row in rows:
            value = row.values.get(key, "")
            if not value:
                continue
            normalised = normalise(value)
            if normalised in seen:
                self.error(
                    spec,
                    row,
                    key,
                    _("Duplicate: “%(value)s” is also on row %(row)d.")
                    % {"value": value, "row": seen[normalised]},
                )
            else:
                seen[normalised] = row.number

    def already_exists(self, spec: SheetSpec, row: SheetRow, key: str) -> None:
        self.error(
            spec,
            row,
            key,
            _("“%(value)s” already exists; the import only creates new records.")
            % {"value": row.values[key]},
        )

    def decimal(
        self,
        spec: SheetSpec,
        row: SheetRow,
        key: str,
        *,
        places: int,
        minimum: Decimal | None = None,
        maximum: Decimal | None = None,
        percent_sign: Literal["fraction", "points"] | None = None,
    ) -> Decimal | None:
        """The cell as a Decimal quantized to `places` decimals, refusing more decimals than
        that ("1,234.5" and "1 234.5" read as 1234.5). `percent_sign` allows a trailing "%":
        "fraction" reads "13%" as 0.13 (a VAT rate), "points" as 13 (a tolerance in %)."""
        text = row.values.get(key, "")
        if not text:
            return None
        text = _THOUSANDS.sub("", text)
        divide = False
        if percent_sign is not None and text.endswith(("%", "％")):
            text = text[:-1]
            divide = percent_sign == "fraction"
        try:
            value: Decimal | None = Decimal(text)
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite():
            self.error(spec, row, key, _("“%(value)s” is not a number.") % {"value": text})
            return None
        if divide:
            value = value / 100
        if value and value.adjusted() > _MAX_INTEGER_DIGITS:
            self.error(spec, row, key, _("“%(value)s” is too large.") % {"value": text})
            return None
        exponent = value.normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent < -places:
            self.error(
                spec,
                row,
                key,
                ngettext(
                    "At most %(places)d decimal place.",
                    "At most %(places)d decimal places.",
                    places,
                )
                % {"places": places},
            )
            return None
        if minimum is not None and value < minimum:
            self.error(spec, row, key, _("Must be at least %(minimum)s.") % {"minimum": minimum})
            return None
        if maximum is not None and value > maximum:
            self.error(spec, row, key, _("Must be at most %(maximum)s.") % {"maximum": maximum})
            return None
        return value.quantize(Decimal(1).scaleb(-places))

    def integer(
        self,
        spec: SheetSpec,
        row: SheetRow,
        key: str,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int | None:
        text = row.values.get(key, "")
        if not text:
            return None
        if not re.fullmatch(r"[+-]?\d+", text):
            self.error(spec, row, key, _("“%(value)s” is not a whole number.") % {"value": text})
            return None
        value = int(text)
        if minimum is not None and value < minimum:
            self.error(spec, row, key, _("Must be at least %(minimum)s.") % {"minimum": minimum})
            return None
        if maximum is not None and value > maximum:
            self.error(spec, row, key, _("Must be at most %(maximum)s.") % {"maximum": maximum})
            return None
        return value

    def date(self, spec: SheetSpec, row: SheetRow, key: str) -> datetime.date | None:
        """A date cell, or text as 2026-03-31, 2026/3/31 or 2026.3.31."""
        text = row.values.get(key, "")
        if not text:
            return None
        match = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:T00:00:00)?", text)
        try:
            if match is None:
                raise ValueError(text)
            return datetime.date(*(int(part) for part in match.groups()))
        except ValueError:
            self.error(
                spec,
                row,
                key,
                _("“%(value)s” is not a date; write it as 2026-03-31.") % {"value": text},
            )
            return None

    def choice(
        self, spec: SheetSpec, row: SheetRow, key: str, choices: Mapping[str, str]
    ) -> str | None:
        """The cell matched against `choices` (accepted text -> stored value; compare without
        case and spaces)."""
        text = row.values.get(key, "")
        if not text:
            return None
        lookup = {"".join(name.split()).casefold(): value for name, value in choices.items()}
        value = lookup.get("".join(text.split()).casefold())
        if value is None:
            accepted = list(dict.fromkeys(choices))
            self.error(
                spec,
                row,
                key,
                _("“%(value)s” is not one of: %(choices)s.")
                % {"value": text, "choices": "、".join(accepted)},
            )
        return value

    def sorted(self) -> list[ImportProblem]:
        """By sheet (in `sheets` order), row and column."""
        order = {spec.name: index for index, spec in enumerate(self.sheets)}

        def key(problem: ImportProblem) -> tuple[int, int, int, str]:
            return (
                order.get(problem.sheet, -1),
                problem.row or 0,
                len(problem.column),
                problem.column,
            )

        return sorted(self.problems, key=key)

    def raise_if_any(self) -> None:
        if self.problems:
            raise WorkbookRejected(self.sorted())


# ---------------------------------------------------------------- applying


class RowFailed(Exception):
    """A service refused a row while the import was being written; the caller's transaction
    rolls back and the problems become a WorkbookRejected."""

    def __init__(self, problems: list[ImportProblem]) -> None:
        super().__init__("import failed")
        self.problems = problems


def service_problems(
    spec: SheetSpec,
    row: SheetRow,
    book: WorkbookData,
    error: ApplicationError,
    *,
    field_columns: Mapping[str, str] | None = None,
    default_column: str = "",
) -> list[ImportProblem]:
    """A service's refusal as problems of the row, in the columns its fields came from
    (`field_columns` maps a service field, "_id" removed, to a column key when they differ)."""
    problems = []
    keys = {column.key for column in spec.columns}
    mapping = field_columns or {}
    for name, messages in error.fields.items():
        bare = name.removesuffix("_id")
        key = mapping.get(bare, bare)
        if key not in keys:
            continue
        for message in messages:
            problems.append(
                ImportProblem(
                    message or error.message,
                    sheet=spec.name,
                    row=row.number,
                    column=book.letter(spec, key),
                    header=spec.column(key).header,
                )
            )
    if not problems:
        column = spec.column(default_column) if default_column else None
        problems.append(
            ImportProblem(
                error.message,
                sheet=spec.name,
                row=row.number,
                column=book.letter(spec, default_column) if column else "",
                header=column.header if column else "",
            )
        )
    return problems


def call_for_row(
    book: WorkbookData,
    spec: SheetSpec,
    row: SheetRow,
    service: Callable[..., Any],
    /,
    *,
    field_columns: Mapping[str, str] | None = None,
    default_column: str = "",
    **arguments: Any,
) -> Any:
    """Call a service for one row with the keyword `arguments`; a refusal (or a unique clash
    with a concurrent writer) raises RowFailed naming that row."""
    try:
        return service(**arguments)
    except ApplicationError as error:
        raise RowFailed(
            service_problems(
                spec,
                row,
                book,
                error,
                field_columns=field_columns,
                default_column=default_column,
            )
        ) from error
    except IntegrityError as error:
        message = _(
            "Conflicts with a record saved by someone else meanwhile; check and import again."
        )
        raise RowFailed([ImportProblem(message, sheet=spec.name, row=row.number)]) from error


# ---------------------------------------------------------------- the template


def template_workbook(
    sheets: Sequence[SheetSpec],
    *,
    title: str,
    notes: Sequence[str] = (),
    max_bytes: int = MAX_FILE_BYTES,
    max_rows: int = MAX_ROWS_PER_SHEET,
    extra: Callable[[Any, int, Any], int] | None = None,
) -> bytes:
    """The blank template: one sheet per spec with its headers (text-formatted columns, so codes
    like 0012 survive), a comment on each header and the grey example rows, then a 说明 sheet:
    `title`, the standard notes (headers, all-or-nothing, limits), `notes` (bilingual lines of
    your own), and a table of every column. `extra(sheet, next_row, bold_format)` may append
    more to the 说明 sheet and returns the row after what it wrote."""
    import xlsxwriter

    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(output, {"in_memory": True})
    header = workbook.add_format(
        {"bold": True, "bg_color": "#DDEBF7", "border": 1, "num_format": "@"}
    )
    required = workbook.add_format(
        {
            "bold": True,
            "bg_color": "#DDEBF7",
            "border": 1,
            "font_color": "#C00000",
            "num_format": "@",
        }
    )
    text = workbook.add_format({"num_format": "@"})
    example = workbook.add_format({"num_format": "@", "italic": True, "font_color": "#808080"})
    with translation.override("en"):
        for spec in sheets:
            sheet = workbook.add_worksheet(spec.name)
            for index, column in enumerate(spec.columns):
                width = max(12, 2 * len(column.header) + 4)
                sheet.set_column(index, index, width, text)
                sheet.write_string(0, index, column.header, required if column.required else header)
                sheet.write_comment(
                    0,
                    index,
                    f"{'必填 ' if column.required else ''}{column.help_zh}\n"
                    f"{column.label}{' (required)' if column.required else ''}: {column.help}",
                    {"x_scale": 2, "y_scale": 1.5},
                )
            for row_index, values in enumerate(spec.examples, start=1):
                for index, value in enumerate(values):
                    sheet.write_string(row_index, index, value, example)
            sheet.freeze_panes(1, 0)
        _write_explanation(
            workbook, sheets, header, required, title, notes, max_bytes, max_rows, extra
        )
    workbook.close()
    return output.getvalue()


def _write_explanation(
    workbook: Any,
    sheets: Sequence[SheetSpec],
    header: Any,
    required: Any,
    title: str,
    notes: Sequence[str],
    max_bytes: int,
    max_rows: int,
    extra: Callable[[Any, int, Any], int] | None,
) -> None:
    sheet = workbook.add_worksheet("说明")
    bold = workbook.add_format({"bold": True})
    wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
    sheet.set_column(0, 0, 10)
    sheet.set_column(1, 1, 18)
    sheet.set_column(2, 2, 8)
    sheet.set_column(3, 4, 60)
    lines = [
        title,
        "1. 第一行为表头，请勿修改；灰色斜体行为示例，导入前请删除。 "
        "Row 1 holds the headers; delete the grey example rows before importing.",
        "2. 全部校验通过才会导入；任何一行有误则不写入任何数据。 "
        "All or nothing: if any row has a problem, nothing is written.",
        *notes,
        f"{len(notes) + 3}. 文件不超过 {max_bytes // 2**20} MB，每个工作表不超过 {max_rows} 行。 "
        f"At most {max_bytes // 2**20} MB and {max_rows} rows per sheet.",
    ]
    for index, line in enumerate(lines):
        sheet.write_string(index, 0, line, bold if index == 0 else None)
    row = len(lines) + 1
    for index, title_text in enumerate(
        ("工作表 Sheet", "表头 Header", "必填 Required", "说明", "Description")
    ):
        sheet.write_string(row, index, title_text, header)
    for spec in sheets:
        for column in spec.columns:
            row += 1
            sheet.write_string(row, 0, spec.name)
            sheet.write_string(row, 1, column.header, required if column.required else None)
            sheet.write_string(row, 2, "是 yes" if column.required else "")
            sheet.write_string(row, 3, column.help_zh, wrap)
            sheet.write_string(row, 4, f"{column.label}: {column.help}", wrap)
    if extra is not None:
        extra(sheet, row + 2, bold)
