"""The bugs the generated tests found, each pinned by one plain example."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from pitchtank.fund.models import Allocation
from tests.proof.conftest import build_world
from tests.proof.test_forms_property import database_fingerprint

HUGE = 2**70


@pytest.mark.parametrize("path", [f"/api/v1/events/{HUGE}", f"/api/v1/sessions/{HUGE}/leaderboard",
                                  f"/api/v1/ventures/{2**31}/deck", f"/events/{HUGE}", f"/ventures/{HUGE}"])
def test_an_id_too_large_for_the_database_is_a_404(path, client, db):
    response = client.get(path)
    assert response.status_code == 404
    if path.startswith("/api/"):
        assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize(("body", "field"), [
    ({"user_ids": [1, HUGE]}, "user_ids.1"), ({"user_ids": [-(2**40)]}, "user_ids.0")])
def test_an_id_too_large_in_a_body_is_a_422(body, field, client, make, db, api_token):
    world = build_world(make)
    response = client.put(f"/api/v1/sessions/{world.ids['session_id'][1]}/judges", json=body,
                          headers=world.headers("organizer"))
    assert response.status_code == 422 and field in response.get_json()["errors"]


def test_a_nul_character_is_refused_before_any_write(client, make, db, login_as):
    world = build_world(make)
    before = database_fingerprint()
    api = client.post(f"/api/v1/pitches/{world.ids['pitch_id'][0]}/recusal", json={"reason": "socio\x00"},
                      headers=world.headers("judge"))
    assert api.status_code == 422
    assert api.get_json()["errors"]["reason"] == ["Quita el carácter de control invisible (NUL) de este texto."]
    login_as(world.people["entrepreneur"])
    page = client.post("/ventures/new", data={"name": "Nulo\x00", "tagline": "x"})
    assert page.status_code == 422 and "Quita el carácter de control invisible" in page.get_data(as_text=True)
    assert database_fingerprint() == before


def test_a_huge_whole_number_in_a_form_is_a_field_error(client, make, db, login_as):
    world = build_world(make)
    login_as(world.people["organizer"])
    response = client.post(f"/sessions/{world.ids['session_id'][1]}/edit", data={
        "title": "Sesión", "starts_at": "2027-01-10T10:00", "pitch_minutes": str(10**30), "qa_minutes": "3"})
    assert response.status_code == 422 and 'class="errors"' in response.get_data(as_text=True)


def test_the_last_minute_of_year_9999_is_a_field_error(client, make, db, login_as):
    world = build_world(make)
    login_as(world.people["organizer"])
    response = client.post(f"/sessions/{world.ids['session_id'][1]}/edit", data={
        "title": "Sesión", "starts_at": "9999-12-31T23:59", "pitch_minutes": "5", "qa_minutes": "3"})
    assert response.status_code == 422
    assert "No es un valor para la fecha y la hora válido." in response.get_data(as_text=True)  # WTForms' own Spanish


def test_a_blank_reason_does_not_reverse_an_allocation(client, make, db, login_as):
    world = build_world(make)
    login_as(world.people["organizer"])
    allocation_id = world.ids["allocation_id"][0]
    response = client.post(f"/fund/allocations/{allocation_id}/reverse",
                           data={f"allocation{allocation_id}-reason": "   "})
    assert response.status_code == 422 and 'class="errors"' in response.get_data(as_text=True)
    assert db.session.scalar(select(Allocation.reversed_at).where(Allocation.id == allocation_id)) is None


def test_posting_to_an_allocation_already_reversed_says_so(client, make, db, login_as):
    world = build_world(make)
    login_as(world.people["organizer"])
    allocation_id = world.ids["allocation_id"][0]
    field = f"allocation{allocation_id}-reason"
    assert client.post(f"/fund/allocations/{allocation_id}/reverse", data={field: "Error"}).status_code == 302
    again = client.post(f"/fund/allocations/{allocation_id}/reverse", data={field: ""}, follow_redirects=True)
    assert "Esta asignación ya fue revertida." in again.get_data(as_text=True) or \
        "flash--error" in again.get_data(as_text=True)
