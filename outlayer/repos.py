"""One spelling of a repository, so the contract, the keystore and the compiler agree on it.

The rule (the contract implements the same one on chain): strip surrounding whitespace,
lowercase the whole URL, strip trailing "/" characters, then one trailing ".git". So
``https://github.com/A/B``, ``https://github.com/a/b.git/`` and `` https://github.com/a/b/ ``
all name ``https://github.com/a/b``: the same secrets, the same key, the same cache entry.
It is a name for matching only; git still fetches the URL as it was given.
"""

from __future__ import annotations


def normalize_repo(url: str) -> str:
    repo = url.strip().lower().rstrip("/")
    return repo.removesuffix(".git")
