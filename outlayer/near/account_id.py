"""NEAR account ids as nearcore accepts them: 2 to 64 characters of lowercase letters, digits
and the separators ``-``, ``_`` (inside a part) and ``.`` (between parts)."""

from __future__ import annotations

import re

_ACCOUNT_ID = re.compile(r"(?=.{2,64}$)(([a-z\d]+[\-_])*[a-z\d]+\.)*([a-z\d]+[\-_])*[a-z\d]+")


def is_account_id(text: str) -> bool:
    return _ACCOUNT_ID.fullmatch(text) is not None
