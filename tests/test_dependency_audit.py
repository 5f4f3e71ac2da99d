"""The dependency audit (tests/security/audit_dependencies.py) fails whenever it cannot vouch for a pin.

PyPI is faked here; ``make security`` runs the audit against the real one.
"""

from __future__ import annotations

import pytest
import requests
from packaging.version import Version
from pip_audit._service.interface import ResolvedDependency

from tests.security import audit_dependencies as audit

VULN = {"id": "PYSEC-2099-1", "aliases": ["CVE-2099-0001"], "summary": "Remote code execution",
        "fixed_in": ["2.0.1"], "withdrawn": None}


class FakeResponse:
    def __init__(self, status: int, document: dict | None):
        self.status_code, self.document = status, document

    def raise_for_status(self):
        if self.status_code >= 400:
            raise requests.HTTPError(f"{self.status_code}", response=self)

    def json(self):
        return self.document


class FakePyPI:
    """Answers by URL; like the mirror the machines reach, per-release documents 404 unless given."""

    def __init__(self, documents: dict[str, dict]):
        self.documents = documents
        self.asked: list[str] = []

    def get(self, url: str, timeout=None):
        self.asked.append(url)
        found = self.documents.get(url)
        return FakeResponse(200, found) if found is not None else FakeResponse(404, None)


def project(name: str, newest: str, vulnerabilities=()) -> tuple[str, dict]:
    return f"https://pypi.org/pypi/{name}/json", {"info": {"version": newest}, "vulnerabilities": list(vulnerabilities)}


def run(documents: dict, *pins: tuple[str, str], tmp_path, strict=True) -> tuple[list[audit.Finding], int, FakePyPI]:
    service = audit.PinnedReleaseService(cache_dir=tmp_path, timeout=5)
    service.session = fake = FakePyPI(documents)
    findings = audit.audit([ResolvedDependency(name=n, version=Version(v)) for n, v in pins], service, strict=strict)
    return findings, audit.report(findings), fake


def test_a_pin_that_is_the_newest_release_is_audited_from_the_project_document(tmp_path):
    findings, status, _ = run(dict([project("flask", "3.1.3")]), ("Flask", "3.1.3"), tmp_path=tmp_path)
    assert status == 0
    assert findings[0].not_audited is None and findings[0].vulnerabilities == []


def test_a_vulnerability_of_the_pinned_release_fails_the_run(tmp_path, capsys):
    findings, status, _ = run(dict([project("somelib", "2.0.0", [VULN])]), ("somelib", "2.0.0"), tmp_path=tmp_path)
    assert status == 1
    found = findings[0].vulnerabilities[0]
    assert (found.id, found.aliases) == ("PYSEC-2099-1", {"CVE-2099-0001"})
    assert "VULNERABLE   somelib==2.0.0: PYSEC-2099-1, CVE-2099-0001 (fixed in 2.0.1)" in capsys.readouterr().out


def test_an_older_pin_cannot_pass_silently(tmp_path, capsys):
    findings, status, _ = run(dict([project("somelib", "2.0.1")]), ("somelib", "2.0.0"), tmp_path=tmp_path)
    assert status == 1
    assert "newest release (2.0.1)" in findings[0].not_audited
    assert "NOT AUDITED  somelib==2.0.0" in capsys.readouterr().out


def test_without_strict_an_older_pin_is_listed_as_behind_but_does_not_fail(tmp_path, capsys):
    findings, status, _ = run(dict([project("somelib", "2.0.1")]), ("somelib", "2.0.0"), tmp_path=tmp_path,
                              strict=False)
    assert status == 0
    assert findings[0].not_audited is None and "newest release (2.0.1)" in findings[0].behind
    output = capsys.readouterr().out
    assert "behind       somelib==2.0.0" in output and "1 behind the newest release" in output


def test_without_strict_an_unknown_package_still_fails(tmp_path):
    _findings, status, _ = run({}, ("not-on-pypi", "1.0"), tmp_path=tmp_path, strict=False)
    assert status == 1


def test_an_unknown_package_is_not_audited(tmp_path):
    findings, status, _ = run({}, ("not-on-pypi", "1.0"), tmp_path=tmp_path)
    assert status == 1 and findings[0].not_audited == "not found on PyPI"


def test_the_per_release_document_is_used_where_it_is_served(tmp_path):
    documents = {"https://pypi.org/pypi/somelib/1.0.0/json": {"info": {"version": "1.0.0"}, "vulnerabilities": [VULN]}}
    findings, status, fake = run(documents, ("somelib", "1.0.0"), tmp_path=tmp_path)
    assert status == 1 and len(findings[0].vulnerabilities) == 1
    assert fake.asked == ["https://pypi.org/pypi/somelib/1.0.0/json"]


def test_accepted_vulnerabilities_and_unauditable_pins_are_named_and_bound(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(audit.IGNORED, "CVE-2099-0001", "no fix exists; the code path is not used")
    monkeypatch.setitem(audit.NOT_AUDITABLE_HERE, ("oldlib", "1.0"), "capped by a dependant")
    documents = dict([project("somelib", "2.0.0", [VULN]), project("oldlib", "3.0")])
    findings, status, _ = run(documents, ("somelib", "2.0.0"), ("oldlib", "1.0"), tmp_path=tmp_path)
    assert status == 0
    output = capsys.readouterr().out
    assert "ignored      somelib==2.0.0: PYSEC-2099-1, CVE-2099-0001: no fix exists" in output
    assert "not audited  oldlib==1.0" in output and "capped by a dependant" in output
    # The acceptance is for that version only.
    _findings, status, _ = run(documents, ("oldlib", "1.1"), tmp_path=tmp_path)
    assert status == 1


def test_an_unreachable_pypi_fails_the_run(tmp_path, monkeypatch, capsys):
    def unreachable(self, url, timeout=None):
        raise requests.ConnectionError("no route to pypi.org")

    monkeypatch.setattr(FakePyPI, "get", unreachable)
    real_service = audit.PinnedReleaseService

    def service(**kwargs):
        made = real_service(cache_dir=tmp_path, timeout=5)
        made.session = FakePyPI({})
        return made

    monkeypatch.setattr(audit, "PinnedReleaseService", service)
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("flask==3.1.3\n")
    assert audit.main([str(constraints)]) == 2
    assert "could not complete" in capsys.readouterr().err


def test_the_constraints_are_exact_pins(tmp_path):
    pins = audit.pinned(audit.ROOT / "constraints.txt")
    assert len(pins) > 50 and all(isinstance(p, ResolvedDependency) for p in pins)
    loose = tmp_path / "loose.txt"
    loose.write_text("flask>=3\n")
    with pytest.raises(SystemExit, match="not an exact pin"):
        audit.pinned(loose)
