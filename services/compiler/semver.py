"""Cargo's flavour of semantic versions: parse versions, match requirements.

Just what the fetch phase needs to pick the versions cargo would pick: ``^`` (the default),
``~``, ``=``, comparisons, wildcards, comma-separated conjunctions. Pre-releases match only a
requirement that names a pre-release of the same major.minor.patch, as in cargo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")
_PART = re.compile(r"^(\^|~|=|>=|<=|>|<)?\s*(\*|\d+)(?:\.(\*|x|X|\d+))?(?:\.(\*|x|X|\d+))?"
                   r"(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")  # fmt: skip


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int
    # Ordered: a release sorts after its pre-releases (empty tuple last via the flag).
    release: bool = True
    pre: tuple[tuple[int, int | str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> Version:
        match = _VERSION.match(text.strip())
        if not match:
            raise ValueError(f"not a semantic version: {text!r}")
        major, minor, patch, pre = match.groups()
        parts: tuple[tuple[int, int | str], ...] = ()
        if pre:
            parts = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))
        return cls(int(major), int(minor), int(patch), not pre, parts)

    @property
    def triple(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)


@dataclass(frozen=True)
class _Comparator:
    op: str
    major: int
    minor: int | None
    patch: int | None
    pre: str

    def matches(self, v: Version) -> bool:
        low, high = self._bounds()
        if low is not None and v < low:
            return False
        return high is None or v < high

    def _bounds(self) -> tuple[Version | None, Version | None]:
        major, minor, patch = self.major, self.minor, self.patch
        base = Version.parse(
            f"{major}.{minor or 0}.{patch or 0}" + (f"-{self.pre}" if self.pre else "")
        )
        op = self.op
        if op == "=":
            if minor is None:
                return base, Version(major + 1, 0, 0, False, ((0, 0),))
            if patch is None:
                return base, Version(major, minor + 1, 0, False, ((0, 0),))
            return base, _next(base)
        if op == ">":
            if minor is None:
                return Version(major + 1, 0, 0, False, ((0, 0),)), None
            if patch is None:
                return Version(major, minor + 1, 0, False, ((0, 0),)), None
            return _next(base), None
        if op == ">=":
            return base, None
        if op == "<":
            return None, base if self.pre else Version(*base.triple, False, ((0, 0),))
        if op == "<=":
            if minor is None:
                return None, Version(major + 1, 0, 0, False, ((0, 0),))
            if patch is None:
                return None, Version(major, minor + 1, 0, False, ((0, 0),))
            return None, _next(base)
        if op == "~":
            if minor is None:
                return base, Version(major + 1, 0, 0, False, ((0, 0),))
            return base, Version(major, minor + 1, 0, False, ((0, 0),))
        # "^", the default
        if major > 0 or minor is None:
            return base, Version(major + 1, 0, 0, False, ((0, 0),))
        if minor > 0 or patch is None:
            return base, Version(0, minor + 1, 0, False, ((0, 0),))
        return base, Version(0, 0, (patch or 0) + 1, False, ((0, 0),))


def _next(v: Version) -> Version:
    """The smallest version after ``v`` (its first pre-release of the next patch)."""
    if not v.release:
        return Version(*v.triple, True)
    return Version(v.major, v.minor, v.patch + 1, False, ((0, 0),))


class Requirement:
    """A cargo version requirement such as ``1.0``, ``^0.2.3``, ``>=1.2, <1.5`` or ``*``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._comparators: list[_Comparator] = []
        for raw in (text.strip() or "*").split(","):
            part = raw.strip()
            match = _PART.match(part)
            if not match:
                raise ValueError(f"not a version requirement: {text!r}")
            op, major, minor, patch, pre = match.groups()
            if major == "*":
                continue  # matches everything (but pre-releases)
            wild_minor = minor in (None, "*", "x", "X")
            wild_patch = patch in (None, "*", "x", "X")
            if op is None:
                op = "=" if (minor in ("*", "x", "X") or patch in ("*", "x", "X")) else "^"
            self._comparators.append(
                _Comparator(
                    op,
                    int(major),
                    None if wild_minor else int(minor),
                    None if wild_minor or wild_patch else int(patch),
                    pre or "",
                )
            )

    def matches(self, version: Version) -> bool:
        if not version.release and not any(
            c.pre and (c.major, c.minor, c.patch) == version.triple for c in self._comparators
        ):
            return False
        return all(c.matches(version) for c in self._comparators)

    def __repr__(self) -> str:
        return f"Requirement({self.text!r})"


def best_match(requirement: str, versions: list[str]) -> str | None:
    """The highest of ``versions`` that ``requirement`` accepts, as cargo would choose."""
    req = Requirement(requirement)
    parsed: list[tuple[Version, str]] = []
    for text in versions:
        try:
            parsed.append((Version.parse(text), text))
        except ValueError:
            continue
    accepted = [pair for pair in parsed if req.matches(pair[0])]
    return max(accepted)[1] if accepted else None
