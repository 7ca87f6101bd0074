"""Reading a rendered form in tests: its inputs by name, and which inputs have a label."""
from __future__ import annotations

from html.parser import HTMLParser


class FormInputs(HTMLParser):
    """Every input of a page by name, with its attributes; and the `for` of each label."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, dict] = {}
        self.label_targets: set[str] = set()

    def handle_starttag(self, tag, attrs) -> None:
        attributes = dict(attrs)
        if tag == "input" and attributes.get("name"):
            self.inputs[attributes["name"]] = attributes
        if tag == "label" and attributes.get("for"):
            self.label_targets.add(attributes["for"])


def parse_form(page_html: str) -> FormInputs:
    """The inputs and label targets of a rendered page."""
    parser = FormInputs()
    parser.feed(page_html)
    return parser
