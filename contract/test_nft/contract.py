"""A minimal NEP-171 non-fungible token, for the keystore's NftOwned access condition.

new, nft_mint (owner only), nft_transfer, and the views the condition reads: nft_token and
nft_tokens_for_owner (NEP-181 enumeration).
"""

import json

import near


def fail(message):
    near.panic_utf8("test_nft: " + message)


def args():
    raw = near.input()
    return json.loads(raw) if raw else {}


def ret(value):
    near.value_return(json.dumps(value))


def owned_by(account):
    raw = near.storage_read("own:" + account)
    return json.loads(raw) if raw is not None else []


def set_owned(account, tokens):
    near.storage_write("own:" + account, json.dumps(tokens))


def give(token_id, receiver):
    near.storage_write("tok:" + token_id, receiver)
    tokens = owned_by(receiver)
    tokens.append(token_id)
    set_owned(receiver, tokens)


@near.export
def new():
    near.storage_write("owner", args()["owner_id"])


@near.export
def nft_mint():
    a = args()
    if near.predecessor_account_id() != near.storage_read("owner").decode():
        fail("only the owner mints")
    token_id = str(a["token_id"])
    if near.storage_has_key("tok:" + token_id):
        fail("token " + token_id + " exists")
    give(token_id, a["receiver_id"])


@near.export
def nft_transfer():
    if near.attached_deposit() != 1:
        fail("attach exactly 1 yoctoNEAR")
    a = args()
    token_id = str(a["token_id"])
    sender = near.predecessor_account_id()
    raw = near.storage_read("tok:" + token_id)
    if raw is None or raw.decode() != sender:
        fail(sender + " does not own token " + token_id)
    set_owned(sender, [t for t in owned_by(sender) if t != token_id])
    give(token_id, a["receiver_id"])


@near.export
def nft_token():
    token_id = str(args()["token_id"])
    raw = near.storage_read("tok:" + token_id)
    ret(None if raw is None else {"token_id": token_id, "owner_id": raw.decode()})


@near.export
def nft_tokens_for_owner():
    a = args()
    start = int(a.get("from_index") or 0)
    limit = int(a.get("limit") or 50)
    owner = a["account_id"]
    ids = owned_by(owner)[start : start + limit]
    ret([{"token_id": t, "owner_id": owner} for t in ids])
