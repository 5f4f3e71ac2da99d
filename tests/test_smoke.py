from pitchtank.accounts.models import Role


def test_healthz_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_factories_build_a_pitching_session(make, db):
    session, judges = make.pitching_session(pitches=3, judges=2)
    db.session.commit()
    assert [p.position for p in session.pitches] == [1, 2, 3]
    assert all(j.has_role(Role.JUDGE) for j in judges)
