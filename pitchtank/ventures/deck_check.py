"""Content-based validation of uploaded pitch decks.

A deck must really be a PDF: the decision is made from the bytes alone, never
from the file name or the declared content type.  This module is pure (no Flask
imports) so it can be used from views, CLI commands and background jobs alike.

Every refusal is a :class:`DeckRejected` carrying a machine ``code``; the caller
maps the code to a translated user-facing message.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pypdf
from pypdf.generic import ArrayObject, DictionaryObject, PdfObject

__all__ = [
    "MAX_DECK_BYTES",
    "MAX_DECK_PAGES",
    "REJECTION_CODES",
    "DeckRejected",
    "check_deck",
]

MAX_DECK_BYTES = 10 * 1024 * 1024
MAX_DECK_PAGES = 200

#: All codes :class:`DeckRejected` can carry.
REJECTION_CODES = frozenset(
    {"empty", "too_large", "not_pdf", "malformed", "encrypted", "javascript", "too_many_pages"}
)

# PDF 32000-1, annex H: readers accept the header anywhere in the first 1024 bytes
# and the end-of-file marker anywhere in the last 1024 bytes.
_HEADER = b"%PDF-"
_HEADER_WINDOW = 1024
_EOF_MARKER = b"%%EOF"
_EOF_WINDOW = 1024

# Upper bound on dictionaries/arrays visited while hunting for JavaScript, so a
# crafted file with huge or cyclic action/outline/field structures cannot make
# the check run unbounded.  Far above anything a real deck contains.
_MAX_SCAN_NODES = 50_000

_PYPDF_LOGGER = logging.getLogger("pypdf")


class DeckRejected(Exception):
    """Carries a machine code explaining why a deck was refused.

    ``code`` is one of: ``"empty"``, ``"too_large"``, ``"not_pdf"``,
    ``"malformed"``, ``"encrypted"``, ``"javascript"``, ``"too_many_pages"``.
    """

    code: str

    def __init__(self, code: str) -> None:
        if code not in REJECTION_CODES:
            raise ValueError(f"unknown deck rejection code: {code!r}")
        super().__init__(code)
        self.code = code


def check_deck(data: bytes) -> int:
    """Return the page count of a valid deck, or raise DeckRejected.

    Checks, cheapest first: non-empty, at most ``MAX_DECK_BYTES`` (before any
    parsing), ``%PDF-`` header in the first 1024 bytes, ``%%EOF`` marker in the
    last 1024 bytes, parses with pypdf, not encrypted, 1..``MAX_DECK_PAGES``
    pages, and no JavaScript (document Names tree, catalog ``/OpenAction`` and
    ``/AA``, outline items, form fields, page ``/AA`` and page annotations).
    Any parser failure, including ``RecursionError`` and friends on
    pathological input, is reported as ``"malformed"``.
    """
    if not data:
        raise DeckRejected("empty")
    if len(data) > MAX_DECK_BYTES:
        raise DeckRejected("too_large")
    data = bytes(data)  # accept bytearray/memoryview; pypdf wants a stable buffer
    if data.find(_HEADER, 0, _HEADER_WINDOW) < 0:
        raise DeckRejected("not_pdf")
    if data.find(_EOF_MARKER, max(0, len(data) - _EOF_WINDOW)) < 0:
        raise DeckRejected("malformed")

    with _quiet_pypdf():
        try:
            return _inspect(data)
        except DeckRejected:
            raise
        except Exception as exc:  # any pypdf/parse failure on hostile input
            raise DeckRejected("malformed") from exc


def _inspect(data: bytes) -> int:
    reader = pypdf.PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        raise DeckRejected("encrypted")
    page_count = len(reader.pages)
    if page_count <= 0:
        raise DeckRejected("malformed")
    if page_count > MAX_DECK_PAGES:
        raise DeckRejected("too_many_pages")
    if _JavaScriptScan(reader).found():
        raise DeckRejected("javascript")
    return page_count


# --------------------------------------------------------------------------
# JavaScript detection
# --------------------------------------------------------------------------


def _resolve(obj: Any) -> Any:
    """Dereference indirect objects (missing objects resolve to None)."""
    if isinstance(obj, PdfObject):
        return obj.get_object()
    return obj


class _JavaScriptScan:
    """Looks for JavaScript in every place a viewer would run it from."""

    def __init__(self, reader: pypdf.PdfReader) -> None:
        self._reader = reader
        self._budget = _MAX_SCAN_NODES
        self._seen: set[tuple[str, int]] = set()

    def _visit(self, obj: Any, role: str) -> bool:
        """Count a node against the budget; False if already visited in this role.

        Keyed by role as well as identity: a dictionary first met as, say, an
        outline item must still be examined as an action when an annotation
        points at it, otherwise sharing objects would hide JavaScript.
        """
        self._budget -= 1
        if self._budget < 0:
            raise DeckRejected("malformed")
        key = (role, id(obj))
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def found(self) -> bool:
        catalog = _resolve(self._reader.trailer.get("/Root"))
        if not isinstance(catalog, DictionaryObject):
            raise DeckRejected("malformed")

        names = _resolve(catalog.get("/Names"))
        if isinstance(names, DictionaryObject) and ("/JavaScript" in names or "/JS" in names):
            return True
        if self._action(catalog.get("/OpenAction")):
            return True
        if self._trigger_map(catalog.get("/AA")):
            return True
        if self._outlines(catalog.get("/Outlines")):
            return True
        acroform = _resolve(catalog.get("/AcroForm"))
        if isinstance(acroform, DictionaryObject) and self._fields(acroform.get("/Fields")):
            return True

        for page in self._reader.pages:
            if self._trigger_map(page.get("/AA")):
                return True
            annots = _resolve(page.get("/Annots"))
            if not isinstance(annots, ArrayObject):
                continue
            for annot_ref in annots:
                annot = _resolve(annot_ref)
                if not isinstance(annot, DictionaryObject) or not self._visit(annot, "annot"):
                    continue
                if self._action(annot.get("/A")) or self._trigger_map(annot.get("/AA")):
                    return True
        return False

    def _action(self, obj: Any) -> bool:
        """An action dictionary (or array of them), following ``/Next`` chains."""
        stack = [obj]
        while stack:
            node = _resolve(stack.pop())
            if isinstance(node, ArrayObject):
                if self._visit(node, "action"):
                    stack.extend(node)
                continue
            if not isinstance(node, DictionaryObject) or not self._visit(node, "action"):
                continue
            if _resolve(node.get("/S")) == "/JavaScript" or "/JS" in node:
                return True
            if "/Next" in node:
                stack.append(node["/Next"])
        return False

    def _trigger_map(self, obj: Any) -> bool:
        """An additional-actions (``/AA``) dictionary: trigger name -> action."""
        aa = _resolve(obj)
        if not isinstance(aa, DictionaryObject) or not self._visit(aa, "aa"):
            return False
        return any(self._action(action) for action in aa.values())

    def _outlines(self, obj: Any) -> bool:
        """Bookmark items can carry actions (``/A``) run when clicked."""
        stack = [obj]
        while stack:
            item = _resolve(stack.pop())
            if not isinstance(item, DictionaryObject) or not self._visit(item, "outline"):
                continue
            if self._action(item.get("/A")):
                return True
            for key in ("/First", "/Next"):
                if key in item:
                    stack.append(item[key])
        return False

    def _fields(self, obj: Any) -> bool:
        """Interactive form fields (and their widgets) with actions."""
        stack = [obj]
        while stack:
            node = _resolve(stack.pop())
            if isinstance(node, ArrayObject):
                if self._visit(node, "field"):
                    stack.extend(node)
                continue
            if not isinstance(node, DictionaryObject) or not self._visit(node, "field"):
                continue
            if self._action(node.get("/A")) or self._trigger_map(node.get("/AA")):
                return True
            if "/Kids" in node:
                stack.append(node["/Kids"])
        return False


# --------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------

_quiet_lock = threading.Lock()
_quiet_depth = 0
_saved_level = logging.NOTSET


@contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """Silence pypdf's warnings about sloppy files while a check runs.

    Reference-counted under a lock so concurrent checks in threads restore the
    logger's original level exactly once, after the last check finishes.
    """
    global _quiet_depth, _saved_level
    with _quiet_lock:
        if _quiet_depth == 0:
            _saved_level = _PYPDF_LOGGER.level
            _PYPDF_LOGGER.setLevel(logging.ERROR)
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                _PYPDF_LOGGER.setLevel(_saved_level)
