"""Read the POST forms of a rendered page the way a browser does: action, fields, options."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Field:
    name: str
    kind: str  # input type, "select", "textarea"
    value: str = ""
    options: list[str] = field(default_factory=list)
    checked: bool = False
    multiple: bool = False


@dataclass
class Form:
    action: str
    enctype: str
    fields: list[Field] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self, page_url: str):
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: Field | None = None
        self._textarea: Field | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            if (a.get("method") or "get").lower() == "post":
                self._form = Form(action=a.get("action") or self.page_url,
                                  enctype=a.get("enctype") or "application/x-www-form-urlencoded")
                self.forms.append(self._form)
            return
        if self._form is None or not a.get("name"):
            if tag == "option" and self._select is not None:
                self._option(a)
            return
        if tag == "input":
            kind = (a.get("type") or "text").lower()
            if kind in {"submit", "button", "reset", "image"}:
                return
            self._form.fields.append(Field(a["name"], kind, a.get("value") or "",
                                           checked="checked" in a))
        elif tag == "select":
            self._select = Field(a["name"], "select", multiple="multiple" in a)
            self._form.fields.append(self._select)
        elif tag == "textarea":
            self._textarea = Field(a["name"], "textarea")
            self._form.fields.append(self._textarea)

    def _option(self, a):
        value = a.get("value") or ""
        self._select.options.append(value)
        if "selected" in a and not self._select.value:
            self._select.value = value

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea.value += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            if self._select is not None and not self._select.value and self._select.options:
                self._select.value = self._select.options[0]
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def post_forms(html: str, page_url: str) -> list[Form]:
    parser = _FormParser(page_url)
    parser.feed(html)
    return parser.forms
