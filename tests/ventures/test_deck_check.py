"""Tests for the content-based pitch-deck upload check."""

from __future__ import annotations

import io
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfWriter
from pypdf.actions import JavaScript, PageTrigger
from pypdf.generic import DictionaryObject, NameObject, TextStringObject

from pitchtank.ventures.deck_check import (
    MAX_DECK_BYTES,
    MAX_DECK_PAGES,
    REJECTION_CODES,
    DeckRejected,
    check_deck,
)

# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def _writer(pages: int = 1) -> PdfWriter:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=612, height=792)
    return writer


def _bytes(writer: PdfWriter) -> bytes:
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def _deck(pages: int = 1) -> bytes:
    return _bytes(_writer(pages))


def _raw_pdf(objects: list[bytes], prefix: bytes = b"") -> bytes:
    """Hand-assemble a PDF (object 1 is the catalog) with a correct xref table."""
    out = bytearray(prefix + b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref_at,
    )
    return bytes(out)


def _one_page(catalog: bytes = b"", page: bytes = b"", extra: tuple[bytes, ...] = ()) -> bytes:
    """A raw one-page PDF; extra objects are numbered from 4."""
    return _raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R " + catalog + b" >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] " + page + b" >>",
            *extra,
        ]
    )


def _code(data: bytes) -> str:
    with pytest.raises(DeckRejected) as info:
        check_deck(data)
    assert info.value.code in REJECTION_CODES
    return info.value.code


JS_ACTION = b"<< /S /JavaScript /JS (app.alert(1)) >>"

_PLAIN_OBJECTS = [
    b"<< /Type /Catalog /Pages 2 0 R >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
]

# --------------------------------------------------------------------------
# accepted decks
# --------------------------------------------------------------------------


def test_valid_one_page_deck():
    assert check_deck(_deck(1)) == 1


def test_valid_three_page_deck():
    assert check_deck(_deck(3)) == 3


def test_exactly_max_pages_is_accepted():
    assert check_deck(_deck(MAX_DECK_PAGES)) == MAX_DECK_PAGES


def test_accepts_bytearray_and_memoryview():
    data = _deck(2)
    assert check_deck(bytearray(data)) == 2
    assert check_deck(memoryview(data)) == 2


def test_header_after_leading_junk_within_1024_bytes_is_accepted():
    # Offsets in the xref count from the start of the file, junk included.
    assert check_deck(_raw_pdf(_PLAIN_OBJECTS, prefix=b"x" * 900)) == 1


def test_non_javascript_open_action_is_accepted():
    assert check_deck(_one_page(catalog=b"/OpenAction [3 0 R /Fit]")) == 1
    assert check_deck(_one_page(catalog=b"/OpenAction << /S /URI /URI (https://x.test) >>")) == 1


def test_cyclic_next_chain_without_javascript_terminates():
    deck = _one_page(
        catalog=b"/OpenAction 4 0 R",
        extra=(b"<< /S /URI /URI (https://x.test) /Next [4 0 R 4 0 R] >>",),
    )
    assert check_deck(deck) == 1


# --------------------------------------------------------------------------
# size / type
# --------------------------------------------------------------------------


def test_empty_is_rejected():
    assert _code(b"") == "empty"


def test_too_large_is_checked_before_parsing():
    # Not a PDF at all: size must win over every content check.
    assert _code(b"\0" * (MAX_DECK_BYTES + 1)) == "too_large"
    assert _code(b"%PDF-1.4\n" + b"x" * MAX_DECK_BYTES) == "too_large"


def test_png_is_not_pdf():
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
    assert _code(png) == "not_pdf"


def test_text_named_pdf_is_not_pdf():
    assert _code(b"This is my pitch deck, honest.\n" * 20) == "not_pdf"


def test_header_beyond_first_1024_bytes_is_not_pdf():
    assert _code(b"x" * 1024 + _deck()) == "not_pdf"


# --------------------------------------------------------------------------
# malformed
# --------------------------------------------------------------------------


def test_truncated_pdf_is_malformed():
    data = _deck(3)
    assert _code(data[: len(data) // 2]) == "malformed"


def test_truncated_pdf_with_forged_eof_is_malformed():
    data = _deck(3)
    assert _code(data[: len(data) // 2] + b"\n%%EOF\n") == "malformed"


def test_header_followed_by_garbage_is_malformed():
    assert _code(b"%PDF-1.4\n" + bytes(range(256)) * 8) == "malformed"
    assert _code(b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n") == "malformed"


def test_eof_marker_far_from_end_is_malformed():
    assert _code(_deck() + b"\0" * 2048) == "malformed"


def test_zero_pages_is_malformed():
    deck = _raw_pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"])
    assert _code(deck) == "malformed"


def test_cyclic_page_tree_is_malformed():
    deck = _raw_pdf(
        [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>"]
    )
    assert _code(deck) == "malformed"


def test_deeply_nested_arrays_do_not_leak_recursion_error():
    deck = _one_page(page=b"/X " + b"[" * 50_000 + b"]" * 50_000)
    assert _code(deck) == "malformed"


# --------------------------------------------------------------------------
# encryption / javascript / pages
# --------------------------------------------------------------------------


def test_encrypted_pdf_is_rejected():
    writer = _writer()
    writer.encrypt("x")
    assert _code(_bytes(writer)) == "encrypted"


def test_owner_password_only_pdf_is_still_encrypted():
    writer = _writer()
    writer.encrypt("", "owner")
    assert _code(_bytes(writer)) == "encrypted"


def test_document_level_javascript_is_rejected():
    # pypdf 7 replaced PdfWriter.add_js with add_open_action(JavaScript(...)),
    # which adds the script to the catalog's /Names /JavaScript tree.
    writer = _writer()
    writer.add_open_action(JavaScript("app.alert(1)"))
    assert _code(_bytes(writer)) == "javascript"


def test_open_action_javascript_is_rejected():
    writer = _writer()
    writer.root_object[NameObject("/OpenAction")] = DictionaryObject(
        {
            NameObject("/S"): NameObject("/JavaScript"),
            NameObject("/JS"): TextStringObject("app.alert(1)"),
        }
    )
    assert _code(_bytes(writer)) == "javascript"


def test_page_open_action_javascript_is_rejected():
    writer = _writer(2)
    writer.pages[1].add_action(PageTrigger.OPEN, JavaScript("app.alert(1)"))
    assert _code(_bytes(writer)) == "javascript"


@pytest.mark.parametrize(
    ("catalog", "page", "extra"),
    [
        pytest.param(b"/AA << /WC " + JS_ACTION + b" >>", b"", (), id="catalog-aa"),
        pytest.param(b"/Names << /JS 4 0 R >>", b"", (b"<< /Names [] >>",), id="names-js-key"),
        pytest.param(
            b"/OpenAction << /S /Java#53cript /J#53 (app.alert(1)) >>", b"", (), id="escaped-names"
        ),
        pytest.param(
            b"/OpenAction << /S /URI /URI (https://x.test) /Next [<< /S /GoTo /D [3 0 R /Fit] >> 4 0 R] >>",
            b"",
            (JS_ACTION,),
            id="next-chain",
        ),
        pytest.param(
            b"",
            b"/Annots [<< /Type /Annot /Subtype /Link /Rect [0 0 9 9] /A " + JS_ACTION + b" >>]",
            (),
            id="link-annotation",
        ),
        pytest.param(
            b"",
            b"/Annots [4 0 R]",
            (
                b"<< /Type /Annot /Subtype /Widget /Rect [0 0 9 9] /AA << /K "
                + JS_ACTION
                + b" >> >>",
            ),
            id="widget-aa",
        ),
        pytest.param(
            b"/Outlines 4 0 R",
            b"",
            (
                b"<< /First 5 0 R /Last 6 0 R >>",
                b"<< /Title (a) /Parent 4 0 R /Next 6 0 R >>",
                b"<< /Title (b) /Parent 4 0 R /A " + JS_ACTION + b" >>",
            ),
            id="outline-item",
        ),
        pytest.param(
            b"/AcroForm << /Fields [4 0 R] >>",
            b"",
            (b"<< /FT /Tx /T (f) /Kids [5 0 R] >>", b"<< /AA << /F " + JS_ACTION + b" >> >>"),
            id="form-field-kid",
        ),
        pytest.param(
            # The same dictionary is both an outline item and a link's action:
            # seeing it as an outline first must not hide it as an action.
            b"/Outlines 4 0 R",
            b"/Annots [<< /Subtype /Link /Rect [0 0 9 9] /A 5 0 R >>]",
            (b"<< /First 5 0 R >>", b"<< /Title (a) /S /JavaScript /JS (app.alert(1)) >>"),
            id="shared-object",
        ),
    ],
)
def test_javascript_anywhere_a_viewer_runs_it_is_rejected(catalog, page, extra):
    assert _code(_one_page(catalog=catalog, page=page, extra=extra)) == "javascript"


def test_too_many_pages_is_rejected():
    assert _code(_deck(MAX_DECK_PAGES + 1)) == "too_many_pages"


# --------------------------------------------------------------------------
# misc contract
# --------------------------------------------------------------------------


def test_pypdf_warnings_are_silenced_and_logger_level_restored(caplog):
    pypdf_logger = logging.getLogger("pypdf")
    before = pypdf_logger.level
    caplog.set_level(logging.DEBUG)
    # Sloppy but recoverable: the xref offset is wrong, pypdf warns and repairs.
    data = _deck()
    sloppy = data.replace(b"startxref\n", b"startxref\n1", 1)
    with pytest.raises(DeckRejected):
        check_deck(b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n")
    assert check_deck(sloppy) == 1
    assert not [
        r for r in caplog.records if r.name.startswith("pypdf") and r.levelno < logging.ERROR
    ]
    assert pypdf_logger.level == before


def test_deck_rejected_rejects_unknown_codes():
    with pytest.raises(ValueError):
        DeckRejected("nope")
    assert DeckRejected("empty").code == "empty"


# --------------------------------------------------------------------------
# property: never anything but an int or DeckRejected
# --------------------------------------------------------------------------


def _assert_total(data: bytes) -> None:
    try:
        pages = check_deck(data)
    except DeckRejected as exc:
        assert exc.code in REJECTION_CODES
    else:
        assert isinstance(pages, int)
        assert 1 <= pages <= MAX_DECK_PAGES


_FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
_SEED_DECK = _deck(2)


@_FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_never_escape(data):
    _assert_total(data)


@_FUZZ
@given(st.binary(max_size=2048), st.booleans())
def test_random_bytes_after_pdf_header_never_escape(body, add_eof):
    _assert_total(b"%PDF-1.7\n" + body + (b"\n%%EOF\n" if add_eof else b""))


@_FUZZ
@given(
    st.lists(
        st.tuples(st.integers(0, len(_SEED_DECK) - 1), st.integers(0, 255)),
        min_size=1,
        max_size=8,
    )
)
def test_corrupted_real_deck_never_escapes(flips):
    data = bytearray(_SEED_DECK)
    for position, value in flips:
        data[position] = value
    _assert_total(bytes(data))
