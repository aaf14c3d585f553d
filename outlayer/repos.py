"""One spelling of a repository, so the contract, the keystore and the compiler agree on it.

The rule (the contract implements the same one on chain): strip surrounding whitespace,
lowercase the whole URL, strip trailing "/" characters, then one trailing ".git". So
``https://github.com/A/B``, ``https://github.com/a/b.git/`` and `` https://github.com/a/b/ ``
all name ``https://github.com/a/b``: the same secrets, the same key, the same cache entry.
It is a name for matching only; git still fetches the URL as it was given.
"""

from __future__ import annotations

import re

from outlayer.errors import invalid_argument


def normalize_repo(url: str) -> str:
    repo = url.strip().lower().rstrip("/")
    return repo.removesuffix(".git")


GITHUB = "https://github.com/"
REPO_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")  # an OWNER or a REPO
# Branch and tag names: git's own rules, kept strict enough that no name reads as an option
# (the contract's check_ref is the same rule, with MicroPython's string methods).
GIT_REF = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)(?!.*@\{)[A-Za-z0-9._/+-]{1,128}(?<![./])$")


def github_repo(url: str) -> str:
    """``url`` normalised, once it names a repository the platform builds: the contract's rule
    (``check_github_repo``) for https://github.com/OWNER/REPO; raises ``invalid_argument``."""
    # ASCII before normalising: CPython lowercases and strips more than ASCII (the Kelvin sign,
    # a no-break space), MicroPython in the contract does not.
    repo = normalize_repo(url) if url.isascii() else ""
    path = repo.removeprefix(GITHUB).removesuffix(".git")
    parts = path.split("/")
    if (
        not repo.startswith(GITHUB)
        or len(repo) > 256
        or len(parts) != 2
        or not all(REPO_NAME.fullmatch(part) and part not in (".", "..") for part in parts)
    ):
        raise invalid_argument(
            f"{url!r} is not a repository URL: give https://github.com/OWNER/REPO (OWNER and "
            "REPO of letters, digits, _ . -)"
        )
    return repo


def git_ref(name: str, what: str = "branch") -> str:
    """A branch or tag name by the rule the contract and the compiler share; raises
    ``invalid_argument``."""
    if not GIT_REF.fullmatch(name):
        raise invalid_argument(
            f"{what} {name!r} is not a branch or tag name: letters, digits and . _ / + - (at "
            'most 128; not starting with "-", not ending with "." or "/", without ".." or "//")'
        )
    return name
