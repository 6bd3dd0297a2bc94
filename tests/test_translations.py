"""The Chinese catalogue is complete: no empty or fuzzy entry ships (a fuzzy one is ignored)."""

from pathlib import Path

from babel.messages.pofile import read_po

CATALOGUE = Path(__file__).resolve().parent.parent / "qinglian/locale/zh_Hans/LC_MESSAGES/django.po"


def test_every_message_has_a_chinese_translation():
    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle)
    missing = [
        message.id
        for message in catalogue
        if message.id
        and (
            message.fuzzy
            or not all(message.string if isinstance(message.string, tuple) else [message.string])
        )
    ]
    assert missing == []
    assert len(catalogue) > 400
