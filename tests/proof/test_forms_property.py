"""Property-based tests of every HTML form: whatever a browser (or anyone) posts, the answer is
success or a clear validation message, never a 5xx, and a refusal writes nothing.

Each page of the table is rendered as the role that uses it; every POST form on it is read
like a browser reads it (action, fields, options) and posted with generated values: the
rendered value kept, the field left out, or replaced by unicode and control characters, huge
strings, numbers out of range, impossible dates, SQL and HTML payloads. CSRF is switched off
for the whole suite (tests/test_csrf.py proves every unsafe route demands the token).
"""

from __future__ import annotations

import hashlib
import io
import re
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from pitchtank.extensions import db as _db
from tests.proof import counts
from tests.proof.conftest import PROOF_SETTINGS, build_world
from tests.proof.forms_html import Form, post_forms

# (page, who): every page that carries a POST form people fill in. Ids come from the world.
PAGES = [
    ("/signup", "anonymous"),
    ("/login", "anonymous"),
    ("/forgot-password", "anonymous"),
    ("/account", "entrepreneur"),
    ("/ventures/new", "entrepreneur"),
    ("/ventures/{own_venture}/edit", "entrepreneur"),
    ("/ventures/{own_venture}/deck", "entrepreneur"),
    ("/events/{event_id}/apply", "entrepreneur"),
    ("/events/new", "organizer"),
    ("/events/{event_id}/edit", "organizer"),
    ("/events/{event_id}/manage", "organizer"),
    ("/events/{event_id}/sessions/new", "organizer"),
    ("/sessions/{later_session}/edit", "organizer"),
    ("/sessions/{later_session}/manage", "organizer"),
    ("/sessions/{later_session}/rubric", "organizer"),
    ("/sessions/{live_session}/console", "organizer"),
    ("/fund/new", "organizer"),
    ("/fund/{fund_id}", "organizer"),
    ("/fund/{fund_id}/calls/new", "organizer"),
    ("/companies/new", "organizer"),
    ("/companies/{organization_id}/edit", "organizer"),
    ("/invitations", "organizer"),
    ("/users/{user_id}", "organizer"),
    ("/fund/dashboard", "investor"),
    ("/fund/pitches/{pitch_id}/offer", "investor"),
    ("/fund/offers", "entrepreneur"),
    ("/sessions/{live_session}/vote", "anonymous"),
]
# Forms whose success ends the visit or needs an outside service: covered by their own tests.
SKIPPED_ACTIONS = re.compile(r"^/(logout|language|account/delete|account/two-factor|fund/card|fund/lines/\d+/pay"
                             r"|fund/payments/)")
# Tables a refused request may legitimately write: failed-login throttles and the audit trail.
MAY_CHANGE_ON_REFUSAL = {"login_throttles", "audit_entries"}

NASTY_TEXT = st.one_of(
    st.text(max_size=40),  # any unicode, control characters included
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=8).map(lambda s: s * 4000),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from([
        "", " ", "\x00", "\t\r\n", "-1", "0", "1e309", "NaN", "inf", "-0.001", "12.345678",
        "99999999999999999999999", "2026-02-30", "9999-12-31T23:59", "0000-00-00", "24:61",
        "'; DROP TABLE users; --", '" OR 1=1 --', "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>', "javascript:alert(1)", "=HYPERLINK(\"http://x\")",
        "\u202e\u200b\ufeff", "😀" * 300, "a@b", "@" * 300 + ".mx",
    ]),
)


def _value(field):
    """Keep what the page rendered, leave the field out (None), or send something nasty."""
    choices = [st.just(field.value), st.none(), NASTY_TEXT]
    if field.kind == "select" and field.options:
        choices.insert(0, st.sampled_from(field.options))
    if field.kind == "checkbox":
        return st.sampled_from([field.value or "y", None])
    if field.kind == "file":
        return st.one_of(st.none(), st.binary(max_size=2000), st.sampled_from([b"%PDF-1.4\n%%EOF", b"%PDF-"]))
    return st.one_of(*choices)


def _post_data(form: Form):
    return st.fixed_dictionaries({f.name: _value(f) for f in form.fields}).map(
        lambda values: {name: value for name, value in values.items() if value is not None})


def database_fingerprint() -> dict[str, str]:
    """A digest of every row of every table (but those a refusal may write)."""
    _db.session.expire_all()
    digests = {}
    for table in _db.metadata.sorted_tables:
        if table.name in MAY_CHANGE_ON_REFUSAL:
            continue
        rows = _db.session.execute(select(table).order_by(*table.primary_key.columns)).all()
        digests[table.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
    _db.session.rollback()
    return digests


def _page_url(template: str, world) -> str:
    return template.format(
        own_venture=world.ids["venture_id"][0], event_id=world.ids["event_id"][0],
        live_session=world.ids["session_id"][0], later_session=world.ids["session_id"][1],
        fund_id=world.ids["fund_id"][0], organization_id=world.ids["organization_id"][0],
        user_id=world.ids["user_id"][0], pitch_id=world.ids["pitch_id"][0])


def _is_clear_refusal(response) -> bool:
    """A page that says what is wrong: field errors, a form alert, a flash or an error page."""
    html = response.get_data(as_text=True)
    markers = ['class="errors"', 'role="alert"', "flash--error", "flash--warning"]
    if response.status_code >= 400:
        markers.append('<p class="lead">')  # the error page's explanation
    return any(marker in html for marker in markers)


@pytest.mark.parametrize(("template", "who"), PAGES, ids=[p for p, _ in PAGES])
def test_every_form_answers_clearly_and_refusals_write_nothing(template, who, app, client, make, db,
                                                                login_as):
    world = build_world(make)
    if who != "anonymous":
        login_as(world.people[who])
    page = _page_url(template, world)
    rendered = client.get(page)
    assert rendered.status_code == 200, (page, rendered.status_code)
    forms = [f for f in post_forms(rendered.get_data(as_text=True), page)
             if not SKIPPED_ACTIONS.match(urlsplit(f.action).path)]
    assert forms, f"{page} shows no form to post"
    for form in forms:
        _fuzz_form(client, form, page)


def _fuzz_form(client, form: Form, page: str) -> None:
    action = urlsplit(form.action).path
    multipart = form.enctype == "multipart/form-data"

    @PROOF_SETTINGS
    @given(data=_post_data(form))
    def post(data):
        before = database_fingerprint()
        if multipart:
            data = {k: ((io.BytesIO(v), "deck.pdf") if isinstance(v, bytes) else v)
                    for k, v in data.items()}
        response = client.post(action, data=data, content_type=None if not multipart else "multipart/form-data")
        counts.record("forms", f"{page} -> {action}")
        assert response.status_code < 500, (action, data, response.get_data(as_text=True)[:500])
        if response.status_code in (301, 302, 303):
            return  # done, or refused with a flashed message on the page it leads to
        assert _is_clear_refusal(response), (action, data, response.status_code)
        assert database_fingerprint() == before, f"{action} refused ({response.status_code}) but wrote: {data}"

    post()
