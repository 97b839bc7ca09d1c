"""Do the lock files still match the requirements they were compiled from?

requirements.txt (runtime) and requirements-dev.txt (tests and lint; it includes requirements.txt)
are edited by hand; requirements.lock and requirements-dev.lock pin every package with its hashes
(`make lock`, pip-tools). Every package an input names must be in its lock, at the version the
input pins. `make` runs this before installing from the lock, and tests/test_lockfile.py too, so a
requirement added without `make lock` stops at once with what to do, not later as a missing module.
Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAIRS = {
    "requirements.lock": ["requirements.txt"],
    "requirements-dev.lock": ["requirements-dev.txt", "requirements.txt"],
}
LINE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?:==\s*([^\s;#\\]+))?")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str | None]:
    """{package: pinned version or None} of a requirements or lock file (options, -r lines, hashes
    and comments skipped)."""
    found: dict[str, str | None] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-", "--")):
            continue
        match = LINE.match(line)
        if match:
            found[normalise(match.group(1))] = match.group(2)
    return found


def problems(root: Path = ROOT) -> list[str]:
    out = []
    for lock_name, inputs in PAIRS.items():
        lock_path = root / lock_name
        if not lock_path.exists():
            out.append(f"{lock_name} is missing")
            continue
        lock = pins(lock_path)
        for input_name in inputs:
            for package, version in pins(root / input_name).items():
                if package not in lock:
                    out.append(f"{input_name} names {package}, which {lock_name} lacks")
                elif version is not None and lock[package] != version:
                    out.append(f"{input_name} pins {package}=={version}, {lock_name} has {lock[package]}")
    return out


def main() -> int:
    found = problems()
    for problem in found:
        print(f"lock: {problem}", file=sys.stderr)
    if found:
        print("The lock files are out of date: run `make lock` and commit them.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
