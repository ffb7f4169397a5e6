"""The lock files cover pyproject.toml, so installing them with ``--no-deps`` leaves nothing out.

- every runtime, ``dev`` and ``screenshots`` requirement is pinned within its range, with hashes;
- ``requirements/dev.txt`` and ``requirements/screenshots.txt`` pin shared packages alike;
- ``requirements/dev.txt`` is closed under dependencies here: whatever a pinned distribution
  requires on this platform is pinned too, at a version it accepts.

After a change to the dependencies in pyproject.toml, ``python scripts/lock.py`` brings the
lock files up to date.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)\s*(?:;(?P<marker>[^\\]+))?"
)


def _pins(lock: Path) -> dict[str, tuple[Version, Requirement, int]]:
    """name -> (version, the pin as a requirement with its marker, number of hashes)."""
    pins: dict[str, tuple[Version, Requirement, int]] = {}
    name = None
    for line in lock.read_text(encoding="utf-8").splitlines():
        found = PIN.match(line)
        if found:
            marker = f" ; {found['marker'].strip()}" if found["marker"] else ""
            req = Requirement(f"{found['name']}=={found['version']}{marker}")
            name = canonicalize_name(found["name"])
            pins[name] = (Version(found["version"]), req, 0)
        elif name and line.strip().startswith("--hash=sha256:"):
            version, req, hashes = pins[name]
            pins[name] = (version, req, hashes + 1)
    return pins


def _project() -> dict[str, list[Requirement]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    groups = {"runtime": [Requirement(r) for r in data["dependencies"]]}
    for extra, reqs in data["optional-dependencies"].items():
        groups[extra] = [Requirement(r) for r in reqs]
    return groups


def _applies(req: Requirement, extra: str = "") -> bool:
    env = {**default_environment(), "extra": extra}
    return req.marker is None or req.marker.evaluate(env)  # type: ignore[arg-type]


DEV = ROOT / "requirements" / "dev.txt"
SHOTS = ROOT / "requirements" / "screenshots.txt"


@pytest.mark.parametrize(
    ("lock", "groups"),
    [(DEV, ("runtime", "dev")), (SHOTS, ("runtime", "dev", "screenshots"))],
)
def test_every_requirement_is_pinned_within_its_range(lock: Path, groups: tuple[str, ...]) -> None:
    pins = _pins(lock)
    project = _project()
    problems = []
    for group in groups:
        for req in project[group]:
            pin = pins.get(canonicalize_name(req.name))
            if pin is None:
                problems.append(f"{req} ({group}) is not in {lock.name}")
            elif not req.specifier.contains(pin[0], prereleases=True):
                problems.append(f"{req} ({group}): {lock.name} pins {pin[0]}")
    assert not problems, "run `python scripts/lock.py`: " + "; ".join(problems)
    unhashed = [name for name, (_, _, hashes) in pins.items() if hashes == 0]
    assert not unhashed, f"pins without hashes in {lock.name}: {unhashed}"


def test_dev_and_screenshots_locks_agree() -> None:
    dev, shots = _pins(DEV), _pins(SHOTS)
    differ = {
        n: (str(dev[n][0]), str(shots[n][0]))
        for n in dev
        if n in shots and dev[n][0] != shots[n][0]
    }
    assert not differ, differ
    assert set(dev) <= set(shots), set(dev) - set(shots)


def test_dev_lock_is_closed_under_dependencies_here() -> None:
    pins = {n: p for n, p in _pins(DEV).items() if _applies(p[1])}
    problems = []
    for name in pins:
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            problems.append(f"{name} is pinned but not installed: install from the lock")
            continue
        for text in requires:
            dep = Requirement(text)
            if not _applies(dep):
                continue
            pin = pins.get(canonicalize_name(dep.name))
            if pin is None:
                problems.append(f"{name} needs {dep}, which is not pinned")
            elif not dep.specifier.contains(pin[0], prereleases=True):
                problems.append(f"{name} needs {dep}; the lock pins {pin[0]}")
    assert not problems, "run `python scripts/lock.py`: " + "; ".join(problems)
