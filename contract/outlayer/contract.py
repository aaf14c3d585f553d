"""The OutLayer contract: requests yield until a registered worker resolves them.

MicroPython (nearc). Every user error panics with a clear message before any state changes;
amounts are strings of yoctoNEAR (or of the token's smallest unit) in all JSON.
"""

import binascii
import json

import near

TGAS = 10**12
MAX_INSTRUCTIONS = 100_000_000_000
MAX_SECONDS = 60
MAX_MEMORY_MB = 1024
DEFAULT_LIMITS = {
    "max_instructions": 1_000_000_000,
    "max_memory_mb": 128,
    "max_execution_seconds": 60,
}
STALE_AFTER_NS = 10 * 60 * 10**9
YIELD_CALLBACK_GAS = 60 * TGAS
FT_TRANSFER_GAS = 20 * TGAS
CALLBACK_GAS = 20 * TGAS
MAX_RESUME_BYTES = 1024
MAX_OUTPUT_BYTES = 16 * 1024  # parsing JSON in MicroPython costs ~4 Tgas per KiB
STORAGE_PRICE = 10**19
FORMATS = ("text", "json", "bytes")
CONDITIONS = (
    "AllowAll",
    "Whitelist",
    "AccountPattern",
    "NearBalance",
    "FtBalance",
    "NftOwned",
    "Logic",
)
HEX = "0123456789abcdef"
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


# --- helpers ------------------------------------------------------------------------------------
def fail(message):
    near.panic_utf8("OutLayer: " + message)


def args():
    raw = near.input()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except Exception:
        fail("arguments are not valid JSON")
    if not isinstance(value, dict):
        fail("arguments must be a JSON object")
    return value


def ret(value):
    near.value_return(json.dumps(value))


def get(key, default=None):
    raw = near.storage_read(key)
    return default if raw is None else json.loads(raw)


def put(key, value):
    near.storage_write(key, json.dumps(value))


def amount(value, name):
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    fail(name + " must be a non-negative whole number as a string, got " + repr(value))


def emit(event, data):
    near.log_utf8(
        "EVENT_JSON:"
        + json.dumps({"standard": "outlayer", "version": "1.0.0", "event": event, "data": [data]})
    )


def owner():
    return get("owner")


def only_owner():
    if near.predecessor_account_id() != owner():
        fail("only the owner may call this")


def only_self():
    if near.predecessor_account_id() != near.current_account_id():
        fail("this method is private")


def transfer(account_id, value):
    if value > 0:
        p = near.promise_batch_create(account_id)
        near.promise_batch_action_transfer(p, value)


def pricing():
    return get("pricing")


def stats():
    return get("stats")


def bump(field, by=1):
    s = stats()
    s[field] = s.get(field, 0) + by
    put("stats", s)


# --- set-up and admin ---------------------------------------------------------------------------
@near.export
def new():
    if near.storage_has_key("owner"):
        fail("already initialized")
    a = args()
    put("owner", a.get("owner_id") or near.predecessor_account_id())
    put("paused", False)
    put("next_id", 1)
    put(
        "pricing",
        {
            "base_fee": "1000000000000000000000",
            "per_instruction": "1000000",
            "per_ms": "10000000000000000000",
        },
    )
    put(
        "stats",
        {
            "total_requests": 0,
            "completed": 0,
            "failed": 0,
            "timed_out": 0,
            "cancelled": 0,
            "total_fees": "0",
        },
    )
    ret(True)


@near.export
def add_worker():
    only_owner()
    put("w:" + str(args()["account_id"]), True)
    ret(True)


@near.export
def remove_worker():
    only_owner()
    near.storage_remove("w:" + str(args()["account_id"]))
    ret(True)


@near.export
def is_worker():
    ret(near.storage_has_key("w:" + str(args().get("account_id"))))


@near.export
def set_paused():
    only_owner()
    put("paused", bool(args().get("paused")))
    ret(True)


@near.export
def set_pricing():
    only_owner()
    a = args()
    p = {}
    for name in ("base_fee", "per_instruction", "per_ms"):
        p[name] = str(amount(a.get(name), name))
    put("pricing", p)
    ret(p)


@near.export
def get_pricing():
    ret(pricing())


@near.export
def add_token():
    only_owner()
    put("tok:" + str(args()["token_id"]), True)
    ret(True)


# --- requests -----------------------------------------------------------------------------------
def check_source(source):
    if not isinstance(source, dict):
        fail(
            "code_source must be an object: "
            '{"repo": "https://github.com/OWNER/REPO", "commit": "<40 hex>"}'
        )
    repo = source.get("repo")
    if not isinstance(repo, str) or not repo.startswith("https://github.com/"):
        fail("code_source.repo must be a https://github.com/OWNER/REPO URL, got " + repr(repo))
    path = repo[len("https://github.com/") :]
    if path.endswith(".git"):
        path = path[:-4]
    parts = path.split("/")
    if len(parts) != 2 or not parts[0] or not parts[1] or " " in repo:
        fail("code_source.repo must name exactly OWNER/REPO, got " + repr(repo))
    refs = [k for k in ("commit", "branch", "tag") if source.get(k)]
    if len(refs) != 1:
        fail("code_source needs exactly one of commit (40 hex), branch or tag")
    if refs[0] == "commit":
        commit = source["commit"]
        if (
            not isinstance(commit, str)
            or len(commit) != 40
            or any(c not in HEX for c in commit.lower())
        ):
            fail("code_source.commit must be 40 hexadecimal characters, got " + repr(commit))
    clean = {"repo": repo, refs[0]: source[refs[0]]}
    if source.get("build_target"):
        clean["build_target"] = str(source["build_target"])
    return clean


def check_limits(limits):
    if limits is None:
        limits = {}
    if not isinstance(limits, dict):
        fail("resource_limits must be an object")
    out = {}
    for name in ("max_instructions", "max_memory_mb", "max_execution_seconds"):
        value = limits.get(name)
        out[name] = (
            DEFAULT_LIMITS[name] if value is None else amount(value, "resource_limits." + name)
        )
        if out[name] == 0:
            fail("resource_limits." + name + " must be positive")
    if out["max_instructions"] > MAX_INSTRUCTIONS:
        fail("resource_limits.max_instructions is above the cap of " + str(MAX_INSTRUCTIONS))
    if out["max_execution_seconds"] > MAX_SECONDS:
        fail("resource_limits.max_execution_seconds is above the cap of " + str(MAX_SECONDS))
    if out["max_memory_mb"] > MAX_MEMORY_MB:
        fail("resource_limits.max_memory_mb is above the cap of " + str(MAX_MEMORY_MB))
    return out


def cost_of(instructions, ms):
    p = pricing()
    return int(p["base_fee"]) + instructions * int(p["per_instruction"]) + ms * int(p["per_ms"])


@near.export
def estimate_execution_cost():
    limits = check_limits(args().get("resource_limits"))
    ret(str(cost_of(limits["max_instructions"], limits["max_execution_seconds"] * 1000)))


@near.export
def request_execution():
    if get("paused"):
        fail("the contract is paused; try again later")
    a = args()
    source = check_source(a.get("code_source"))
    limits = check_limits(a.get("resource_limits"))
    fmt = a.get("response_format") or "text"
    if fmt not in FORMATS:
        fail("response_format must be one of text, json, bytes")
    input_data = a.get("input_data") or ""
    if not isinstance(input_data, str):
        fail("input_data must be a string")
    secrets_ref = a.get("secrets_ref")
    if secrets_ref is not None and (
        not isinstance(secrets_ref, dict) or not secrets_ref.get("profile")
    ):
        fail('secrets_ref must be {"profile": ..., "account_id": ...}')
    deposit = near.attached_deposit()
    needed = cost_of(limits["max_instructions"], limits["max_execution_seconds"] * 1000)
    if deposit < needed:
        fail(
            "attach at least "
            + str(needed)
            + " yoctoNEAR for these limits (attached "
            + str(deposit)
            + ")"
        )
    sender = near.predecessor_account_id()
    usd = amount(a.get("attached_usd") or 0, "attached_usd")
    token = None
    developer = None
    if usd > 0:
        token = a.get("usd_token_id")
        developer = a.get("project_owner_id")
        if not token or not get("tok:" + str(token)):
            fail("usd_token_id must name a whitelisted token")
        if not developer:
            fail("project_owner_id is required with attached_usd")
        key = "bal:" + sender + ":" + token
        balance = int(get(key, "0"))
        if balance < usd:
            fail(
                "attached_usd "
                + str(usd)
                + " exceeds your balance of "
                + str(balance)
                + "; deposit with ft_transfer_call"
            )
        put(key, str(balance - usd))
    request_id = get("next_id")
    put("next_id", request_id + 1)
    promise, data_id = near.promise_yield_create(
        "on_execution_response", json.dumps({"request_id": request_id}), YIELD_CALLBACK_GAS, 0
    )
    data_hex = binascii.hexlify(data_id).decode()
    request = {
        "request_id": request_id,
        "data_id": data_hex,
        "sender_id": sender,
        "code_source": source,
        "resource_limits": limits,
        "input_data": input_data,
        "secrets_ref": secrets_ref,
        "response_format": fmt,
        "payment": str(deposit),
        "attached_usd": str(usd),
        "usd_token_id": token,
        "project_owner_id": developer,
        "timestamp": near.block_timestamp(),
        "status": "pending",
    }
    put("req:" + str(request_id), request)
    bump("total_requests")
    emit(
        "execution_requested",
        {
            "request_id": request_id,
            "data_id": data_hex,
            "sender_id": sender,
            "code_source": source,
            "secrets_ref": secrets_ref,
            "input_data": input_data,
            "resource_limits": limits,
            "response_format": fmt,
            "payment": str(deposit),
            "attached_usd": str(usd),
            "timestamp": request["timestamp"],
        },
    )
    near.promise_return(promise)


@near.export
def resolve_execution():
    worker = near.predecessor_account_id()
    if not near.storage_has_key("w:" + worker):
        fail("only registered workers may resolve requests")
    a = args()
    request_id = a.get("request_id")
    request = get("req:" + str(request_id))
    if request is None:
        fail("request " + str(request_id) + " does not exist (or was already settled)")
    if request["status"] != "pending":
        fail("request " + str(request_id) + " was already resolved")
    used = a.get("resources_used") or {}
    result = {
        "request_id": request_id,
        "success": bool(a.get("success")),
        "error": a.get("error"),
        "worker": worker,
        "resources_used": {
            "instructions": amount(used.get("instructions") or 0, "resources_used.instructions"),
            "time_ms": amount(used.get("time_ms") or 0, "resources_used.time_ms"),
        },
        "refund_usd": str(amount(a.get("refund_usd") or 0, "refund_usd")),
        "compilation_note": a.get("compilation_note"),
        "output": a.get("output"),
    }
    if len(json.dumps(result["output"])) > MAX_OUTPUT_BYTES:
        fail(
            "the output is larger than 16 KiB, the most a request can return on chain; "
            "resolve it as failed with error type output_limit"
        )
    payload = json.dumps(result)
    if len(payload) > MAX_RESUME_BYTES:
        # NEAR caps a resume payload at 1 KiB: keep the output here until the callback reads it.
        put("out:" + str(request_id), result["output"])
        result["output"] = None
        result["output_stored"] = True
        if result["error"] is not None and len(json.dumps(result)) > MAX_RESUME_BYTES:
            result["error"] = str(result["error"])[:300]
        payload = json.dumps(result)
        if len(payload) > MAX_RESUME_BYTES:
            fail("the result (without its output) is larger than 1 KiB")
    request["status"] = "resolved"
    put("req:" + str(request_id), request)
    if not near.promise_yield_resume(binascii.unhexlify(request["data_id"]), payload):
        fail("request " + str(request_id) + " can no longer be resumed (its yield timed out)")
    ret(True)


@near.export
def on_execution_response():
    only_self()
    request_id = args()["request_id"]
    key = "req:" + str(request_id)
    request = get(key)
    if request is None:
        ret(
            {
                "request_id": request_id,
                "status": "failed",
                "output": None,
                "error": {
                    "type": "cancelled",
                    "message": "the request was cancelled by its sender",
                },
            }
        )
        return
    status, data = near.promise_result(0)
    deposit = int(request["payment"])
    usd = int(request["attached_usd"])
    p = pricing()
    if status != 1:
        fee = min(int(p["base_fee"]), deposit)
        settle(request, fee, 0, False)
        bump("timed_out")
        outcome = {
            "request_id": request_id,
            "status": "failed",
            "output": None,
            "error": {"type": "timeout", "message": "no worker resolved the request in time"},
            "resources_used": {"instructions": 0, "time_ms": 0},
        }
    else:
        result = json.loads(data)
        output = result.get("output")
        if result.get("output_stored"):
            output = get("out:" + str(request_id))
            near.storage_remove("out:" + str(request_id))
        used = result["resources_used"]
        fee = min(cost_of(used["instructions"], used["time_ms"]), deposit)
        refund_usd = min(int(result.get("refund_usd") or "0"), usd) if result["success"] else usd
        settle(request, fee, refund_usd, result["success"])
        bump("completed" if result["success"] else "failed")
        outcome = {
            "request_id": request_id,
            "status": "success" if result["success"] else "failed",
            "output": output,
            "error": result.get("error"),
            "resources_used": used,
            "refund_usd": str(refund_usd),
            "compilation_note": result.get("compilation_note"),
        }
    near.storage_remove(key)
    emit(
        "execution_completed",
        {
            "request_id": request_id,
            "status": outcome["status"],
            "error": outcome["error"],
            "resources_used": outcome["resources_used"],
        },
    )
    ret(outcome)


def settle(request, fee, refund_usd, success):
    """Fee to the owner, the rest of the deposit back to the sender; USD to the developer."""
    deposit = int(request["payment"])
    transfer(owner(), fee)
    transfer(request["sender_id"], deposit - fee)
    s = stats()
    s["total_fees"] = str(int(s["total_fees"]) + fee)
    put("stats", s)
    usd = int(request["attached_usd"])
    if usd > 0:
        token = request["usd_token_id"]
        back = usd if not success else refund_usd
        if back > 0:
            key = "bal:" + request["sender_id"] + ":" + token
            put(key, str(int(get(key, "0")) + back))
        earned = usd - back
        if earned > 0:
            key = "earn:" + request["project_owner_id"]
            earnings = get(key, {})
            earnings[token] = str(int(earnings.get(token, "0")) + earned)
            put(key, earnings)


@near.export
def cancel_stale_execution():
    request_id = args().get("request_id")
    key = "req:" + str(request_id)
    request = get(key)
    if request is None:
        fail("request " + str(request_id) + " does not exist (or was already settled)")
    if request["sender_id"] != near.predecessor_account_id():
        fail("only the sender of a request may cancel it")
    age = near.block_timestamp() - request["timestamp"]
    if age < STALE_AFTER_NS:
        fail(
            "a request can be cancelled 10 minutes after it was made; wait "
            + str((STALE_AFTER_NS - age) // 10**9)
            + " more seconds"
        )
    fee = min(int(pricing()["base_fee"]), int(request["payment"]))
    settle(request, fee, 0, False)
    near.storage_remove(key)
    bump("cancelled")
    emit(
        "execution_completed",
        {
            "request_id": request_id,
            "status": "cancelled",
            "error": None,
            "resources_used": {"instructions": 0, "time_ms": 0},
        },
    )
    ret(True)


@near.export
def get_request():
    ret(get("req:" + str(args().get("request_id"))))


@near.export
def get_stats():
    ret(stats())


# --- secrets ------------------------------------------------------------------------------------
def secret_key(account, repo, branch, profile):
    return "sec:" + account + "|" + repo + "|" + (branch or "") + "|" + profile


def check_condition(condition, depth):
    if depth > 8:
        fail("access condition is nested too deeply (at most 8 levels)")
    if not isinstance(condition, dict) or len(condition) != 1:
        fail("an access condition is an object with one key, one of " + ", ".join(CONDITIONS))
    kind = next(iter(condition.keys()))
    body = condition[kind]
    if kind not in CONDITIONS:
        fail("unknown access condition " + repr(kind) + "; use one of " + ", ".join(CONDITIONS))
    if kind == "AllowAll":
        return
    if not isinstance(body, dict):
        fail(kind + " takes an object")
    if kind == "Whitelist":
        accounts = body.get("accounts")
        if (
            not isinstance(accounts, list)
            or not accounts
            or not all(isinstance(x, str) for x in accounts)
        ):
            fail("Whitelist.accounts must be a non-empty list of account ids")
    elif kind == "AccountPattern":
        pattern = body.get("pattern")
        if not isinstance(pattern, str) or not pattern or len(pattern) > 256:
            fail("AccountPattern.pattern must be a regular expression of 1 to 256 characters")
    elif kind == "NearBalance":
        amount(body.get("min_balance"), "NearBalance.min_balance")
    elif kind in ("FtBalance", "NftOwned"):
        if not isinstance(body.get("contract_id"), str):
            fail(kind + ".contract_id must be an account id")
        if kind == "FtBalance":
            amount(body.get("min_balance"), "FtBalance.min_balance")
    elif kind == "Logic":
        op = body.get("operator")
        conditions = body.get("conditions")
        if op not in ("And", "Or", "Not"):
            fail("Logic.operator must be And, Or or Not")
        if (
            not isinstance(conditions, list)
            or not conditions
            or (op == "Not" and len(conditions) != 1)
        ):
            fail("Logic.conditions must be a non-empty list (exactly one for Not)")
        for inner in conditions:
            check_condition(inner, depth + 1)


@near.export
def store_secrets():
    a = args()
    account = near.predecessor_account_id()
    repo = a.get("repo")
    profile = a.get("profile")
    blob = a.get("encrypted_secrets_base64")
    if not isinstance(repo, str) or not repo:
        fail("repo is required")
    if not isinstance(profile, str) or not profile:
        fail("profile is required")
    if not isinstance(blob, str) or not blob:
        fail("encrypted_secrets_base64 is required")
    if (
        len(blob) % 4 != 0
        or any(c not in B64 for c in blob.rstrip("="))
        or len(blob) - len(blob.rstrip("=")) > 2
    ):
        fail("encrypted_secrets_base64 is not valid base64")
    access = a.get("access") or {"AllowAll": {}}
    check_condition(access, 0)
    branch = a.get("branch")
    key = secret_key(account, repo, branch, profile)
    previous = get(key)
    before = near.storage_usage()
    old_deposit = int(previous["deposit"]) if previous else 0
    record = {"encrypted_secrets_base64": blob, "access": access, "deposit": "0"}
    put(key, record)
    index_key = "usec:" + account
    index = get(index_key, [])
    entry = {"repo": repo, "branch": branch, "profile": profile}
    if entry not in index:
        index.append(entry)
        put(index_key, index)
    grown = near.storage_usage() - before
    # The record itself holds its deposit; its length barely changes with the number.
    needed = old_deposit + grown * STORAGE_PRICE
    needed = max(needed, 0)
    attached = near.attached_deposit()
    if attached + old_deposit < needed:
        fail(
            "attach at least "
            + str(needed - old_deposit)
            + " yoctoNEAR for the storage these secrets take"
        )
    record["deposit"] = str(needed)
    put(key, record)
    transfer(account, attached + old_deposit - needed)
    ret({"storage_deposit": str(needed)})


@near.export
def delete_secrets():
    a = args()
    account = near.predecessor_account_id()
    key = secret_key(account, str(a.get("repo")), a.get("branch"), str(a.get("profile")))
    record = get(key)
    if record is None:
        fail("no secrets stored for that repo, branch and profile")
    near.storage_remove(key)
    index_key = "usec:" + account
    entry = {"repo": a.get("repo"), "branch": a.get("branch"), "profile": a.get("profile")}
    index = [e for e in get(index_key, []) if e != entry]
    if index:
        put(index_key, index)
    else:
        near.storage_remove(index_key)
    transfer(account, int(record["deposit"]))
    ret({"refunded": record["deposit"]})


@near.export
def get_secrets():
    a = args()
    record = get(
        secret_key(str(a.get("owner")), str(a.get("repo")), a.get("branch"), str(a.get("profile")))
    )
    ret(
        None
        if record is None
        else {
            "encrypted_secrets_base64": record["encrypted_secrets_base64"],
            "access": record["access"],
        }
    )


@near.export
def list_user_secrets():
    ret(get("usec:" + str(args().get("account_id")), []))


# --- stablecoin payments ------------------------------------------------------------------------
@near.export
def ft_on_transfer():
    token = near.predecessor_account_id()
    a = args()
    value = amount(a.get("amount"), "amount")
    sender = a.get("sender_id")
    try:
        msg = json.loads(a.get("msg") or "{}")
    except Exception:
        msg = {}
    if (
        not get("tok:" + token)
        or not isinstance(msg, dict)
        or msg.get("action") != "deposit_balance"
    ):
        ret(str(value))  # not for us: the token contract refunds everything
        return
    key = "bal:" + str(sender) + ":" + token
    put(key, str(int(get(key, "0")) + value))
    ret("0")


@near.export
def get_user_balance():
    a = args()
    ret(get("bal:" + str(a.get("account_id")) + ":" + str(a.get("token_id")), "0"))


@near.export
def get_developer_earnings():
    ret(get("earn:" + str(args().get("account_id")), {}))


@near.export
def withdraw_developer_earnings():
    account = near.predecessor_account_id()
    a = args()
    token = a.get("token_id")
    key = "earn:" + account
    earnings = get(key, {})
    value = int(earnings.get(token, "0")) if token else 0
    if value <= 0:
        fail("no earnings to withdraw in token " + repr(token))
    earnings.pop(token)
    put(key, earnings)
    p = near.promise_create(
        token,
        "ft_transfer",
        json.dumps({"receiver_id": account, "amount": str(value)}),
        1,
        FT_TRANSFER_GAS,
    )
    near.promise_return(
        near.promise_then(
            p,
            near.current_account_id(),
            "on_withdraw",
            json.dumps({"account_id": account, "token_id": token, "amount": str(value)}),
            0,
            CALLBACK_GAS,
        )
    )


@near.export
def on_withdraw():
    only_self()
    a = args()
    status, _ = near.promise_result(0)
    if status == 1:
        ret(True)
        return
    key = "earn:" + a["account_id"]  # the transfer failed: give the earnings back
    earnings = get(key, {})
    earnings[a["token_id"]] = str(int(earnings.get(a["token_id"], "0")) + int(a["amount"]))
    put(key, earnings)
    ret(False)
