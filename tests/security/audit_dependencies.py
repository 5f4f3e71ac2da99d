"""pip-audit over the pinned dependencies (constraints.txt): every pin audited, or a loud failure.

Run by ``make security`` (and so by ``make test``): ``python tests/security/audit_dependencies.py``.

pip-audit's PyPI service asks pypi.org for each pinned release's JSON document, which lists
the release's known vulnerabilities (PyPI takes them from the OSV / PyPA advisory database).
The machines of this project (developers' and CI's) reach PyPI through a mirror that serves
each project's JSON document but not each release's, and cannot reach OSV at all; there
pip-audit would skip every dependency and still exit 0. So this script uses pip-audit's own
PyPI service and, where a release's document is missing, the project's document instead: it
lists the vulnerabilities of the project's newest release, so it answers for a pin that *is*
the newest release. A pin that has fallen behind the newest release is listed as "behind"
on every run (upgrade it in constraints.txt to have it audited) but fails the run only with
``--strict``: otherwise every upstream release would turn the build red on a day nothing here
changed. A pin PyPI does not know, a known vulnerability and an unreachable PyPI always fail. Where pip-audit's own per-release lookup works, it is used as is.

A known vulnerability that cannot be fixed by upgrading is accepted only in ``IGNORED`` below,
by its ID, with the reason.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version
from pip_audit._service.interface import (
    ResolvedDependency,
    ServiceError,
    SkippedDependency,
    VulnerabilityResult,
)
from pip_audit._service.pypi import PyPIService

ROOT = Path(__file__).resolve().parents[2]
PROJECT_URL = "https://pypi.org/pypi/{name}/json"
TIMEOUT_SECONDS = 30

# Vulnerability ID (or an alias) -> why it is accepted. Empty: nothing is accepted today.
IGNORED: dict[str, str] = {}

# Pins that cannot be the newest release, so cannot be audited from here: (name, version) ->
# why. Bound to the version: the day the pin changes, the entry stops applying and the run
# fails until the new pin is audited or the entry is renewed.
NOT_AUDITABLE_HERE: dict[tuple[str, str], str] = {
    ("deprecated", "1.3.1"): "its newer releases (3.x) need Python >= 3.12; the app runs on 3.11. "
                             "Pulled in by limits (Flask-Limiter); a decorator that only emits warnings",
    ("jsonschema-rs", "0.60.3"): "schemathesis 4.32.5, the newest, requires jsonschema-rs < 0.61; "
                                 "a test-only dependency of the API fuzzing, never deployed",
}


@dataclass
class Finding:
    name: str
    version: str
    vulnerabilities: list[VulnerabilityResult] = field(default_factory=list)
    ignored: list[tuple[VulnerabilityResult, str]] = field(default_factory=list)
    not_audited: str | None = None
    accepted_unaudited: str | None = None
    behind: str | None = None


def pinned(constraints: Path) -> list[ResolvedDependency]:
    """The ``name==version`` lines of a pip freeze; the project itself (editable) is not a dependency."""
    found: list[ResolvedDependency] = []
    for number, raw in enumerate(constraints.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            raise SystemExit(f"{constraints}:{number}: not a requirement: {raw!r} ({error})") from error
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==":
            raise SystemExit(f"{constraints}:{number}: not an exact pin: {raw!r}")
        found.append(ResolvedDependency(name=requirement.name, version=Version(specifiers[0].version)))
    return found


def results_from(document: dict) -> list[VulnerabilityResult]:
    """The vulnerabilities of a PyPI JSON document, read as pip-audit's PyPI service reads them."""
    results = []
    for entry in document.get("vulnerabilities") or []:
        if entry.get("withdrawn") is not None:
            continue
        try:
            fixes = sorted(Version(fixed) for fixed in entry.get("fixed_in") or [])
        except InvalidVersion as error:
            raise ServiceError(f"malformed version from PyPI: {entry.get('fixed_in')}") from error
        description = (entry.get("summary") or entry.get("details") or "N/A").replace("\n", " ")
        results.append(VulnerabilityResult.create(
            ids=[entry["id"], *(entry.get("aliases") or [])], description=description, fix_versions=fixes,
            published=PyPIService._parse_rfc3339(entry.get("published")),
        ))
    return results


BEHIND_NEWEST = "behind the newest release"


class PinnedReleaseService(PyPIService):
    """pip-audit's PyPI service, falling back to the project's document for the newest release."""

    def query(self, spec):
        answered, results = super().query(spec)
        if not answered.is_skipped():
            return answered, results
        response = self.session.get(url=PROJECT_URL.format(name=spec.canonical_name), timeout=self.timeout)
        if response.status_code == 404:
            return SkippedDependency(name=spec.name, skip_reason="not found on PyPI"), []
        response.raise_for_status()
        document = response.json()
        newest = Version(document["info"]["version"])
        if newest != spec.version:
            return SkippedDependency(name=spec.name, skip_reason=BEHIND_NEWEST + (
                f": pinned {spec.version}, but PyPI's vulnerability data here covers only the newest release "
                f"({newest}): upgrade the pin in constraints.txt")), []
        return spec, results_from(document)


def audit(dependencies: list[ResolvedDependency], service: PyPIService, *, strict: bool = True) -> list[Finding]:
    findings = []
    for dependency in dependencies:
        finding = Finding(dependency.name, str(dependency.version))
        answered, results = service.query(dependency)
        if answered.is_skipped():
            reason = NOT_AUDITABLE_HERE.get((dependency.canonical_name, str(dependency.version)))
            if reason is None and not strict and answered.skip_reason.startswith(BEHIND_NEWEST):
                finding.behind = answered.skip_reason
            elif reason is None:
                finding.not_audited = answered.skip_reason
            else:
                finding.accepted_unaudited = f"{answered.skip_reason}; accepted: {reason}"
        for result in results:
            reason = next((IGNORED[i] for i in _ids(result) if i in IGNORED), None)
            if reason is None:
                finding.vulnerabilities.append(result)
            else:
                finding.ignored.append((result, reason))
        findings.append(finding)
    return findings


def _ids(result: VulnerabilityResult) -> list[str]:
    return [result.id, *sorted(result.aliases - {result.id})]


def report(findings: list[Finding]) -> int:
    problems = 0
    for finding in findings:
        label = f"{finding.name}=={finding.version}"
        if finding.not_audited:
            problems += 1
            print(f"NOT AUDITED  {label}: {finding.not_audited}")
        if finding.behind:
            print(f"behind       {label}: {finding.behind}")
        if finding.accepted_unaudited:
            print(f"not audited  {label}: {finding.accepted_unaudited}")
        for result in finding.vulnerabilities:
            problems += 1
            fixes = ", ".join(str(v) for v in result.fix_versions) or "no fixed release"
            print(f"VULNERABLE   {label}: {', '.join(_ids(result))} (fixed in {fixes}): {result.description}")
        for result, reason in finding.ignored:
            print(f"ignored      {label}: {', '.join(_ids(result))}: {reason}")
    audited = sum(1 for f in findings if not (f.not_audited or f.accepted_unaudited or f.behind))
    accepted = sum(1 for f in findings if f.accepted_unaudited)
    behind = sum(1 for f in findings if f.behind)
    print(f"pip-audit: {audited} of {len(findings)} pinned dependencies audited ({accepted} accepted unaudited, "
          f"{behind} behind the newest release, listed above), {sum(len(f.vulnerabilities) for f in findings)} known vulnerabilities open, "
          f"{sum(len(f.ignored) for f in findings)} accepted.")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("constraints", nargs="?", type=Path, default=ROOT / "constraints.txt")
    parser.add_argument("--strict", action="store_true",
                        help="fail on pins behind the newest release, which cannot be audited from here")
    args = parser.parse_args(argv)
    service = PinnedReleaseService(timeout=TIMEOUT_SECONDS)
    try:
        findings = audit(pinned(args.constraints), service, strict=args.strict)
    except Exception as error:  # unreachable PyPI, a broken answer: fail, never pass silently
        print(f"pip-audit could not complete: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    return report(findings)


if __name__ == "__main__":
    sys.exit(main())
