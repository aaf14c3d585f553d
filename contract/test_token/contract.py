"""A minimal NEP-141 fungible token (a local stand-in for a stablecoin such as USDC).

ft_transfer, ft_transfer_call with ft_resolve_transfer, ft_balance_of, ft_total_supply,
ft_metadata (6 decimals, as USDC); and, for failure-path tests, an owner-only freeze that makes
transfers to an account fail.
"""

import json

import near

TGAS = 10**12


def fail(message):
    near.panic_utf8("test_token: " + message)


def args():
    raw = near.input()
    return json.loads(raw) if raw else {}


def balance(account):
    raw = near.storage_read("b:" + account)
    return int(raw) if raw is not None else 0


def set_balance(account, value):
    near.storage_write("b:" + account, str(value))


def move(sender, receiver, value):
    if value <= 0:
        fail("amount must be positive")
    if near.storage_has_key("frozen:" + receiver):
        fail(receiver + " is frozen")
    have = balance(sender)
    if have < value:
        fail("the sender has " + str(have) + ", not " + str(value))
    set_balance(sender, have - value)
    set_balance(receiver, balance(receiver) + value)


def one_yocto():
    if near.attached_deposit() != 1:
        fail("attach exactly 1 yoctoNEAR")


@near.export
def new():
    a = args()
    near.storage_write("owner", a["owner_id"])
    near.storage_write("supply", str(int(a["total_supply"])))
    set_balance(a["owner_id"], int(a["total_supply"]))


@near.export
def ft_transfer():
    one_yocto()
    a = args()
    move(near.predecessor_account_id(), a["receiver_id"], int(a["amount"]))


@near.export
def ft_transfer_call():
    one_yocto()
    a = args()
    sender = near.predecessor_account_id()
    value = int(a["amount"])
    move(sender, a["receiver_id"], value)
    p = near.promise_create(
        a["receiver_id"],
        "ft_on_transfer",
        json.dumps({"sender_id": sender, "amount": str(value), "msg": a.get("msg", "")}),
        0,
        30 * TGAS,
    )
    near.promise_return(
        near.promise_then(
            p,
            near.current_account_id(),
            "ft_resolve_transfer",
            json.dumps(
                {"sender_id": sender, "receiver_id": a["receiver_id"], "amount": str(value)}
            ),
            0,
            10 * TGAS,
        )
    )


@near.export
def ft_resolve_transfer():
    if near.predecessor_account_id() != near.current_account_id():
        fail("private")
    a = args()
    value = int(a["amount"])
    status, data = near.promise_result(0)
    unused = value if status != 1 else min(int(json.loads(data)), value)
    if unused > 0:
        refund = min(unused, balance(a["receiver_id"]))
        set_balance(a["receiver_id"], balance(a["receiver_id"]) - refund)
        set_balance(a["sender_id"], balance(a["sender_id"]) + refund)
        value -= refund
    near.value_return(json.dumps(str(value)))


@near.export
def ft_balance_of():
    near.value_return(json.dumps(str(balance(args()["account_id"]))))


@near.export
def ft_total_supply():
    near.value_return(json.dumps(near.storage_read("supply").decode()))


@near.export
def ft_metadata():
    near.value_return(
        json.dumps({"spec": "ft-1.0.0", "name": "Test USD", "symbol": "TUSD", "decimals": 6})
    )


@near.export
def freeze():
    if near.predecessor_account_id() != near.storage_read("owner").decode():
        fail("only the owner may freeze")
    near.storage_write("frozen:" + args()["account_id"], "1")
