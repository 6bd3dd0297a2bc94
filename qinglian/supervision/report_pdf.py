"""The monthly report as a PDF, for printing and filing (ReportLab).

The intranet has no online fonts, and a PDF that names a font the reader lacks shows boxes. So
the text font is, in order: the TrueType/OpenType collection named by the setting
`QINGLIAN_PDF_FONT` (embedded, subset); else the first CJK font found in the usual system
places (embedded, subset); else Adobe's standard Chinese font STSong-Light, which every
Chinese-capable PDF reader supplies itself (not embedded).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from django.conf import settings
from django.utils.translation import gettext as _
from reportlab.graphics.charts.barcharts import HorizontalBarChart
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from . import reports

SYSTEM_CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simsun.ttc",
    "/System/Library/Fonts/PingFang.ttc",
)
FALLBACK_FONT = "STSong-Light"
ACCENT = colors.HexColor("#B03A2E")
HEADER_FILL = colors.HexColor("#F2DCDB")
GRID = colors.HexColor("#BBBBBB")


@cache
def _font_named(path: str) -> str:
    """Registers the font file at `path` (the first face of a collection); '' if unusable."""
    name = "QinglianText-" + Path(path).stem
    try:
        pdfmetrics.registerFont(TTFont(name, path, subfontIndex=0))
    except Exception:  # a missing, unreadable or unsupported file: try the next one
        return ""
    return name


def text_font() -> str:
    """The registered name of the font the report's text is set in (see the module's note)."""
    configured = getattr(settings, "QINGLIAN_PDF_FONT", "")
    for path in ([configured] if configured else []) + list(SYSTEM_CJK_FONTS):
        if Path(path).is_file() and (name := _font_named(path)):
            return name
    if FALLBACK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_FONT))
    return FALLBACK_FONT


class _Styles:
    def __init__(self, font: str) -> None:
        # wordWrap CJK: Chinese text breaks between any two characters
        base = {"fontName": font, "wordWrap": "CJK"}
        self.title = ParagraphStyle("title", fontSize=16, leading=22, textColor=ACCENT, **base)
        self.heading = ParagraphStyle(
            "heading", fontSize=11, leading=16, spaceBefore=8, spaceAfter=4, **base
        )
        self.body = ParagraphStyle("body", fontSize=8.5, leading=11.5, **base)
        self.small = ParagraphStyle(
            "small", fontSize=7.5, leading=10, textColor=colors.HexColor("#555555"), **base
        )
        self.number = ParagraphStyle("number", alignment=TA_RIGHT, **{**base, "fontSize": 8.5})
        self.font = font


def _cell(value: Any, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape("" if value is None else str(value)), style)


def _table(
    styles: _Styles,
    headings: Sequence[str],
    rows: Sequence[Sequence[Any]],
    widths: Sequence[float],
    numeric: Sequence[int] = (),
) -> Table:
    """A grid with a repeated heading row; every cell wraps inside its column."""
    body = [[_cell(h, styles.body) for h in headings]]
    for row in rows:
        body.append(
            [
                _cell(value, styles.number if index in numeric else styles.body)
                for index, value in enumerate(row)
            ]
        )
    if not rows:
        body.append([_cell(_("Nothing to show."), styles.small)] + [""] * (len(headings) - 1))
    table = Table(body, colWidths=list(widths), repeatRows=1, hAlign="LEFT")
    commands: list[tuple[Any, ...]] = [
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL),
        ("GRID", (0, 0), (-1, -1), 0.4, GRID),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if not rows:
        commands.append(("SPAN", (0, 1), (-1, 1)))
    table.setStyle(TableStyle(commands))
    return table


def _bar_chart(styles: _Styles, pairs: Sequence[tuple[str, int]], width: float) -> Drawing | None:
    """Horizontal bars of findings per label (largest first); None when there is nothing."""
    pairs = sorted((p for p in pairs if p[1]), key=lambda p: -p[1])[:12]
    if not pairs:
        return None
    bar = 5 * mm
    height = bar * len(pairs) + 12 * mm
    drawing = Drawing(width, height)
    chart = HorizontalBarChart()
    chart.x, chart.y = 62 * mm, 6 * mm
    chart.width, chart.height = width - 70 * mm, bar * len(pairs)
    chart.data = [[count for _label, count in reversed(pairs)]]
    chart.categoryAxis.categoryNames = [label[:24] for label, _count in reversed(pairs)]
    chart.categoryAxis.labels.fontName = styles.font
    chart.categoryAxis.labels.fontSize = 7
    chart.categoryAxis.labels.boxAnchor = "e"
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontName = styles.font
    chart.valueAxis.labels.fontSize = 7
    chart.bars[0].fillColor = ACCENT
    chart.barLabelFormat = "%d"
    chart.barLabels.fontName = styles.font
    chart.barLabels.fontSize = 7
    chart.barLabels.boxAnchor = "w"
    chart.barLabels.dx = 2
    drawing.add(chart)
    return drawing


def monthly_report_pdf(report: reports.MonthlyReport) -> bytes:
    """The report as an A4 landscape PDF: figures, breakdowns with a chart per rule, findings,
    the cases opened, closed and overdue; page numbers in the footer."""
    styles = _Styles(text_font())
    page = landscape(A4)
    output = io.BytesIO()
    title = reports.report_title(report)
    document = SimpleDocTemplate(
        output,
        pagesize=page,
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=14 * mm,
        title=title,
        author="Qinglian",
    )
    width = page[0] - 24 * mm
    story: list[Any] = [
        Paragraph(escape(title), styles.title),
        Paragraph(escape(reports.generated_line()), styles.small),
        Spacer(1, 4 * mm),
    ]
    rate = reports.rectification_rate(report)
    figures: list[tuple[str, Any]] = [
        *reports.summary_rows(report),
        (_("Rectification rate of the cases opened"), "—" if rate is None else f"{rate:.1%}"),
    ]
    story.append(
        _table(
            styles,
            [label for label, _value in figures],
            [[value for _label, value in figures]],
            [width / len(figures)] * len(figures),
            numeric=range(len(figures)),
        )
    )
    half = (width - 6 * mm) / 2
    blocks = [
        [
            Paragraph(escape(heading), styles.heading),
            _table(styles, [heading, _("Findings")], pairs, [half - 25 * mm, 25 * mm], [1]),
        ]
        for heading, pairs in reports.breakdowns(report)
    ]
    # severity and area side by side, then the rules with their chart
    pair = Table([blocks[:2]], colWidths=[half + 6 * mm, half], hAlign="LEFT")
    pair.setStyle(
        TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)])
    )
    story.extend([pair, KeepTogether(blocks[2])])
    chart = _bar_chart(styles, report.by_rule, width)
    if chart is not None:
        story.append(chart)
    story.append(Paragraph(escape(_("By company")), styles.heading))
    story.append(
        _table(
            styles,
            reports.company_columns(),
            report.by_company,
            [width - 3 * 30 * mm] + [30 * mm] * 3,
            numeric=(1, 2, 3),
        )
    )

    story.extend([PageBreak(), Paragraph(escape(_("Findings")), styles.heading)])
    # the Excel columns without the parameter version; the summary takes the room
    finding_headings = [label for label, _width in reports.finding_columns()][:-1]
    finding_widths = [12, 24, 20, 38, 12, 12, 20, 40]
    finding_widths = [w * mm for w in finding_widths]
    finding_widths.append(width - sum(finding_widths))
    story.append(
        _table(
            styles,
            finding_headings,
            [reports.finding_row(f)[:-1] for f in report.findings],
            finding_widths,
            numeric=(0,),
        )
    )
    case_headings = [label for label, _width in reports.case_columns()]
    case_widths = [28, 24, 24, 0, 26, 22, 26, 26, 16]
    case_widths[3] = width / mm - sum(case_widths)
    for heading, cases in reports.case_tables(report):
        story.append(Paragraph(escape(heading), styles.heading))
        story.append(
            _table(
                styles,
                case_headings,
                [reports.case_row(case) for case in cases],
                [w * mm for w in case_widths],
                numeric=(8,),
            )
        )

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(styles.font, 7.5)
        canvas.setFillColor(colors.HexColor("#777777"))
        canvas.drawString(12 * mm, 7 * mm, title)
        label = _("Page %(page)d") % {"page": doc.page}
        canvas.drawRightString(page[0] - 12 * mm, 7 * mm, label)
        canvas.restoreState()

    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return output.getvalue()
