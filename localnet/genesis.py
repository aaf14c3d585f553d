"""A fresh localnet chain with a funded root account whose key is saved for clients."""

from __future__ import annotations

import time
from pathlib import Path

import nacl.signing

from localnet.chain import Chain
from localnet.state import AccessKey, Account
from outlayer.near.keys import Signer

NEAR = 10**24
ROOT_ACCOUNT = "localnet"
ROOT_BALANCE = 1_000_000 * NEAR


def new_chain(
    key_file: Path, root_account: str = ROOT_ACCOUNT, *, wall_clock: bool = False
) -> tuple[Chain, Signer]:
    """A chain whose root account's key is read from ``key_file`` (created if missing);
    ``wall_clock``: its blocks stamped with this machine's time, as NEAR's are."""
    if key_file.is_file():
        signer = Signer.load(key_file)
    else:
        signer = Signer(root_account, nacl.signing.SigningKey.generate())
        signer.save(key_file)
    chain = Chain(clock=time.time_ns) if wall_clock else Chain()
    root = Account(amount=ROOT_BALANCE)
    root.access_keys[signer.public_key] = AccessKey()
    chain.accounts[signer.account_id] = root
    return chain, signer
