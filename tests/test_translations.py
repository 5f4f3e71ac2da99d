"""Every text a user can see exists in Spanish, with the same placeholders as in English."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "pitchtank" / "translations" / "es_MX" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
METHODS = [("pitchtank/**.py", "python"), ("templates/**.html", "jinja2")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}


def source_messages() -> set[str]:
    """Each text the code and templates mark for translation (a plural by its singular)."""
    found: set[str] = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=METHODS, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _forms(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def test_every_message_has_a_spanish_translation_with_the_same_placeholders():
    with CATALOG.open("rb") as handle:
        catalog = read_po(handle, locale="es_MX")
    translations = {(m.id if isinstance(m.id, str) else m.id[0]): m for m in catalog if m.id}
    missing = sorted(
        m for m in source_messages()
        if m not in translations or not all(_forms(translations[m].string)) or translations[m].fuzzy
    )
    assert not missing, f"{len(missing)} texts lack a Spanish translation, e.g. {missing[:10]}"
    for message in translations.values():
        for original, translated in zip(_forms(message.id), _forms(message.string), strict=False):
            assert set(PLACEHOLDER.findall(original)) == set(PLACEHOLDER.findall(translated)), original


def test_pages_are_spanish_by_default_and_english_on_request(client):
    spanish = client.get("/signup").get_data(as_text=True)
    assert '<html lang="es-MX">' in spanish and "Contraseña" in spanish
    client.post("/language", data={"lang": "en"})
    english = client.get("/signup").get_data(as_text=True)
    assert '<html lang="en">' in english and "Password" in english


def test_api_errors_follow_accept_language(client):
    spanish = client.post("/api/v1/tokens", json={}).get_json()
    english = client.post("/api/v1/tokens", json={}, headers={"Accept-Language": "en"}).get_json()
    assert english["errors"]["email"] == ["This field is required."]
    assert spanish["errors"]["email"] == ["Este campo es obligatorio."]
