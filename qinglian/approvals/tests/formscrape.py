"""What a browser would post from a page's form: a small HTML form reader for tests."""

from __future__ import annotations

from html.parser import HTMLParser


class _FormReader(HTMLParser):
    def __init__(self, testid: str) -> None:
        super().__init__(convert_charrefs=True)
        self.testid = testid
        self.inside = False
        self.data: list[tuple[str, str]] = []
        self._select: str | None = None
        self._select_value: str | None = None
        self._first_option: str | None = None
        self._option: dict[str, str] | None = None
        self._option_text = ""
        self._textarea: str | None = None
        self._textarea_text = ""

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and attributes.get("data-testid") == self.testid:
            self.inside = True
        if not self.inside:
            return
        name = attributes.get("name")
        disabled = "disabled" in attributes
        if tag == "input" and name and not disabled:
            kind = attributes.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in attributes:
                    self.data.append((name, attributes.get("value", "on")))
            elif kind not in ("submit", "button", "file", "image", "reset"):
                self.data.append((name, attributes.get("value", "")))
        elif tag == "select" and name and not disabled:
            self._select, self._select_value, self._first_option = name, None, None
        elif tag == "option" and self._select is not None:
            self._option, self._option_text = attributes, ""
        elif tag == "textarea" and name and not disabled:
            self._textarea, self._textarea_text = name, ""

    def handle_data(self, data):
        if self._option is not None:
            self._option_text += data
        if self._textarea is not None:
            self._textarea_text += data

    def handle_endtag(self, tag):
        if tag == "form" and self.inside:
            self.inside = False
        if tag == "option" and self._option is not None:
            value = self._option.get("value", self._option_text.strip())
            if self._first_option is None:
                self._first_option = value
            if "selected" in self._option:
                self._select_value = value
            self._option = None
        elif tag == "select" and self._select is not None:
            chosen = self._select_value if self._select_value is not None else self._first_option
            self.data.append((self._select, chosen or ""))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            text = self._textarea_text
            text = text[1:] if text.startswith("\n") else text  # as HTML drops it
            self.data.append((self._textarea, text))
            self._textarea = None


def form_data(html: str, testid: str) -> dict[str, list[str]]:
    """The successful controls of the form marked `data-testid=testid`, as a browser posts
    them (no submit button)."""
    reader = _FormReader(testid)
    reader.feed(html)
    posted: dict[str, list[str]] = {}
    for name, value in reader.data:
        posted.setdefault(name, []).append(value)
    return posted
