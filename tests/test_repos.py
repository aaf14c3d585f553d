"""One spelling of a repository in the compiler's cache (the keystore's: tests/keystore)."""

from __future__ import annotations

from services.compiler.sources import Source, parse_source

COMMIT = "a" * 40


def test_the_cache_key_is_the_same_for_every_spelling_but_the_fetch_url_is_kept() -> None:
    upper = parse_source("https://github.com/Outlayer/Echo.git", commit=COMMIT)
    lower = parse_source("https://github.com/outlayer/echo", commit=COMMIT)
    assert upper.cache_key == lower.cache_key
    assert "Outlayer/Echo" in upper.repo  # git hosts may be case-sensitive: fetch as given
    assert Source(lower.repo, "b" * 40).cache_key != lower.cache_key
