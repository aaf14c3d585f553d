"""The OutLayer contract: requests yield until a registered worker resolves them.

MicroPython (nearc). Every user error panics with a clear message before any state changes;
amounts are strings of yoctoNEAR (or of the token's smallest unit) in all JSON. The money rules
(what is charged when, and the caps) are in contract/README.md and docs/security.md.
"""

import binascii
import json

import near

TGAS = 10**12
U64 = 2**64
U128 = 2**128
MAX_INSTRUCTIONS = 100_000_000_000
MAX_SECONDS = 60
MAX_MEMORY_MB = 1024
DEFAULT_LIMITS = {
    "max_instructions": 1_000_000_000,
    "max_memory_mb": 128,
    "max_execution_seconds": 60,
}
PRICE_FIELDS = ("base_fee", "per_instruction", "per_ms", "per_compile_ms", "max_compile_ms")
DEFAULT_PRICING = {
    "base_fee": "1000000000000000000000",
    "per_instruction": "1000000",
    "per_ms": "10000000000000000000",
    "per_compile_ms": "1000000000000000000",
    "max_compile_ms": "300000",
}
STALE_AFTER_NS = 10 * 60 * 10**9
YIELD_CALLBACK_GAS = 60 * TGAS
FT_TRANSFER_GAS = 20 * TGAS
CALLBACK_GAS = 20 * TGAS
MAX_RESUME_BYTES = 1024  # NEAR's cap on a yield-resume payload
MAX_LOG_BYTES = 16 * 1024  # NEAR's cap on a receipt's logs
MAX_OUTPUT_BYTES = 16 * 1024  # as JSON, in bytes: what resolve can parse well inside 300 Tgas
MAX_OUTPUT_DEPTH = 64  # json.dumps recurses on MicroPython's small C stack
MAX_INPUT_BYTES = 12 * 1024  # its event (the input escaped as JSON) must fit in one log
MAX_ERROR_MESSAGE = 1000  # characters kept of a worker's error message
MAX_BLOB_BYTES = 16 * 1024  # encrypted secrets: the worst store costs ~41 Tgas
STORAGE_PRICE = 10**19  # yoctoNEAR per byte (NEAR's storage staking)
RECORD_BYTES = 40  # NEAR counts this much per storage record, on top of its key and value
# A request locks a refundable storage stake: this many bytes (a bound on a record with every
# field at its cap, and up to FREE_INPUT_BYTES of input as JSON), plus its input beyond that.
REQUEST_STORAGE_BYTES = 2048
FREE_INPUT_BYTES = 256
OUTPUT_GRACE_BLOCKS = 200  # a stored output its callback did not take by then is freed
DEPOSIT_DIGITS = 40  # a secret's deposit is stored at a fixed width: its record's size is exact
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
NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-_."
MAX_PROJECTS = 100  # per account: list_user_projects reads them all
MAX_VERSIONS = 100  # per project: delete_project removes them all in one call
MAX_LIST = 100  # the most list_versions returns at once
MAX_ALLOWED_PROJECTS = 20  # a payment key's allow-list
MAX_BATCH = 40  # settlement entries per call: its event must fit in NEAR's 16 KiB of logs
COUNT_DIGITS = 10  # version numbers are stored at a fixed width: the record's size is exact
NEAR_TOKEN = "near"  # a payment key funded (and an earnings balance held) in yoctoNEAR
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


def nbytes(text):
    return len(bytes(text, "utf-8"))


def amount(value, name):
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and 0 < len(value) <= 80 and value.isdigit():
        return int(value)
    fail(name + " must be a non-negative whole number as a string, got " + repr(value)[:80])


def u128(value, name):
    value = amount(value, name)
    if value >= U128:
        fail(name + " must be below 2^128")
    return value


def count(value, name, cap=U64 - 1):
    """A JSON integer (not a string) from 0 to cap."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value > cap:
        fail(name + " must be a whole number from 0 to " + str(cap) + ", got " + repr(value)[:80])
    return value


def text(value, name, most, required=True):
    """A string of at most ``most`` bytes (UTF-8)."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        fail(name + " must be a " + ("non-empty " if required else "") + "string")
    if nbytes(value) > most:
        fail(name + " is longer than " + str(most) + " bytes")
    return value


def log_event(event, data):
    line = "EVENT_JSON:" + json.dumps(
        {"standard": "outlayer", "version": "1.0.0", "event": event, "data": [data]}
    )
    size = nbytes(line)
    if size > MAX_LOG_BYTES:
        return size
    near.log_utf8(line)
    return 0


def emit(event, data):
    size = log_event(event, data)
    if size:
        fail("the " + event + " event would be " + str(size) + " bytes; NEAR logs hold 16384")


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
    p = get("pricing")
    for name in PRICE_FIELDS:  # a contract upgraded from before compile pricing
        if name not in p:
            p[name] = DEFAULT_PRICING[name]
    return p


def stats():
    return get("stats")


# --- set-up and admin ---------------------------------------------------------------------------
@near.export
def new():
    if near.storage_has_key("owner"):
        fail("already initialized")
    a = args()
    put("owner", a.get("owner_id") or near.predecessor_account_id())
    put("paused", False)
    put("next_id", 1)
    put("pricing", DEFAULT_PRICING)
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
    put("w:" + text(args().get("account_id"), "account_id", 64), True)
    ret(True)


@near.export
def remove_worker():
    only_owner()
    near.storage_remove("w:" + str(args().get("account_id")))
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
    """base_fee, per_instruction and per_ms are required; the compile fields keep their value
    when omitted. Open requests keep the pricing they were made at."""
    only_owner()
    a = args()
    p = pricing()
    for name in PRICE_FIELDS:
        if name in ("per_compile_ms", "max_compile_ms") and a.get(name) is None:
            continue
        p[name] = str(u128(a.get(name), name))
    put("pricing", p)
    ret(p)


@near.export
def get_pricing():
    ret(pricing())


@near.export
def add_token():
    only_owner()
    put("tok:" + text(args().get("token_id"), "token_id", 64), True)
    ret(True)


# --- requests -----------------------------------------------------------------------------------
GITHUB = "https://github.com/"
REPO_NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
REF_CHARS = REPO_NAME_CHARS + "/+"
MAX_REF = 128


def check_github_repo(repo, name):
    """https://github.com/OWNER/REPO (with or without ".git"), as the compiler builds it:
    OWNER and REPO of letters, digits, "_", "." and "-", neither "." nor ".."."""
    if not isinstance(repo, str) or not repo.startswith(GITHUB):
        fail(name + " must be a https://github.com/OWNER/REPO URL, got " + repr(repo)[:80])
    if nbytes(repo) != len(repo) or len(repo) > 256:
        fail(name + " must be an ASCII URL of at most 256 characters")
    path = repo[len(GITHUB) :]
    if path.endswith(".git"):
        path = path[:-4]
    parts = path.split("/")
    if len(parts) != 2 or any(
        not part or len(part) > 100 or part.strip(REPO_NAME_CHARS) or part in (".", "..")
        for part in parts
    ):
        fail(
            name + " must name exactly OWNER/REPO (letters, digits, _ . -), got " + repr(repo)[:300]
        )
    return repo


def check_ref(ref, name):
    """A branch or tag name by the compiler's rule (git's, kept strict enough that no name
    reads as an option): letters, digits and . _ / + -; not starting with "-", not ending with
    "." or "/", without ".." or "//"."""
    text(ref, name, MAX_REF)
    if (
        ref.strip(REF_CHARS)
        or ref.startswith("-")
        or ref.endswith(".")
        or ref.endswith("/")
        or ".." in ref
        or "//" in ref
    ):
        fail(
            name
            + " must be a branch or tag name (letters, digits and . _ / + -; not starting with"
            + ' "-", not ending with "." or "/", without ".." or "//"), got '
            + repr(ref)[:200]
        )
    return ref


def check_source(source):
    if not isinstance(source, dict):
        fail(
            "code_source must be an object: "
            '{"repo": "https://github.com/OWNER/REPO", "commit": "<40 hex>"}'
        )
    repo = check_github_repo(source.get("repo"), "code_source.repo")
    refs = [k for k in ("commit", "branch", "tag") if source.get(k)]
    if len(refs) != 1:
        fail("code_source needs exactly one of commit (40 hex), branch or tag")
    ref = text(source[refs[0]], "code_source." + refs[0], MAX_REF)
    if refs[0] == "commit" and (len(ref) != 40 or any(c not in HEX for c in ref.lower())):
        fail("code_source.commit must be 40 hexadecimal characters, got " + repr(ref))
    if refs[0] != "commit":
        check_ref(ref, "code_source." + refs[0])
    clean = {"repo": repo, refs[0]: ref}
    if source.get("build_target"):
        clean["build_target"] = text(source["build_target"], "code_source.build_target", 64)
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


def check_input(value):
    """The input and how many bytes it takes as JSON (as it is stored and logged)."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        fail("input_data must be a string")
    size = nbytes(value)
    if size > MAX_INPUT_BYTES:
        fail(
            "input_data is "
            + str(size)
            + " bytes (UTF-8); a request carries at most "
            + str(MAX_INPUT_BYTES)
        )
    return value, nbytes(json.dumps(value))


def check_secrets_ref(ref):
    if ref is None:
        return None
    if not isinstance(ref, dict):
        fail('secrets_ref must be {"profile": ..., "account_id": ...}')
    clean = {"profile": text(ref.get("profile"), "secrets_ref.profile", 64)}
    account = text(ref.get("account_id"), "secrets_ref.account_id", 64, required=False)
    if account:
        clean["account_id"] = account
    branch = text(ref.get("branch"), "secrets_ref.branch", MAX_REF, required=False)
    if branch:  # as secrets are stored for it
        clean["branch"] = check_ref(branch, "secrets_ref.branch")
    return clean


def fee_for(p, instructions, ms, compile_ms):
    return (
        int(p["base_fee"])
        + instructions * int(p["per_instruction"])
        + ms * int(p["per_ms"])
        + min(compile_ms, int(p["max_compile_ms"])) * int(p["per_compile_ms"])
    )


def limits_cost(p, limits):
    return fee_for(p, limits["max_instructions"], limits["max_execution_seconds"] * 1000, 0)


def request_stake(input_json_bytes):
    extra = input_json_bytes - FREE_INPUT_BYTES
    return STORAGE_PRICE * (REQUEST_STORAGE_BYTES + (extra if extra > 0 else 0))


def request_pricing(request):
    return request.get("pricing") or pricing()  # a request made before prices were fixed in it


def charge_for(request, used):
    """The pricing fixed at request time applied to the usage capped by the request's limits
    (and the compile time by max_compile_ms), never more than the deposit."""
    p = request_pricing(request)
    limits = request["resource_limits"]
    fee = fee_for(
        p,
        min(used["instructions"], limits["max_instructions"]),
        min(used["time_ms"], limits["max_execution_seconds"] * 1000),
        used["compile_ms"],
    )
    return min(fee, int(request["payment"]))


@near.export
def estimate_execution_cost():
    """The deposit request_execution needs: the cost of the limits, the refundable storage
    stake for this input, and with include_compilation the worst-case compile fee."""
    a = args()
    limits = check_limits(a.get("resource_limits"))
    _, input_json_bytes = check_input(a.get("input_data"))
    p = pricing()
    cost = limits_cost(p, limits) + request_stake(input_json_bytes)
    if a.get("include_compilation"):
        cost += int(p["max_compile_ms"]) * int(p["per_compile_ms"])
    ret(str(cost))


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
    input_data, input_json_bytes = check_input(a.get("input_data"))
    secrets_ref = check_secrets_ref(a.get("secrets_ref"))
    p = pricing()
    deposit = near.attached_deposit()
    cost = limits_cost(p, limits)
    stake = request_stake(input_json_bytes)
    if deposit < cost + stake:
        fail(
            "attach at least "
            + str(cost + stake)
            + " yoctoNEAR: "
            + str(cost)
            + " for these limits and "
            + str(stake)
            + " refundable for storing the request (attached "
            + str(deposit)
            + ")"
        )
    sender = near.predecessor_account_id()
    usd = u128(a.get("attached_usd") or 0, "attached_usd")
    token = None
    developer = None
    if usd > 0:
        token = a.get("usd_token_id")
        developer = text(a.get("project_owner_id"), "project_owner_id", 64)
        if not isinstance(token, str) or not get("tok:" + token):
            fail("usd_token_id must name a whitelisted token")
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
        "pricing": p,
        "timestamp": near.block_timestamp(),
        "status": "pending",
    }
    put("req:" + str(request_id), request)
    s = stats()
    s["total_requests"] = s["total_requests"] + 1
    put("stats", s)
    size = log_event(
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
    if size:
        fail(
            "input_data takes too many bytes once escaped as JSON for the request's event ("
            + str(size)
            + " bytes; NEAR logs hold 16384): control characters take 6 bytes each"
        )
    near.promise_return(promise)


def check_usage(used):
    if used is None:
        used = {}
    if not isinstance(used, dict):
        fail("resources_used must be an object")
    return {
        "instructions": count(used.get("instructions") or 0, "resources_used.instructions"),
        "time_ms": count(used.get("time_ms") or 0, "resources_used.time_ms"),
        "compile_ms": count(used.get("compile_ms") or 0, "resources_used.compile_ms"),
    }


def check_error(error):
    if error is None:
        return None
    if not isinstance(error, dict):
        fail('error must be {"type": ..., "message": ...} or null')
    message = error.get("message") or ""
    if not isinstance(message, str):
        fail("error.message must be a string")
    return {
        "type": text(error.get("type"), "error.type", 64),
        "message": message[:MAX_ERROR_MESSAGE],
    }


def check_compilation(compilation, error):
    if compilation is None:
        return None
    if not isinstance(compilation, dict):
        fail("compilation must be an object")
    if error is None or error["type"] != "compilation_in_progress":
        fail("compilation goes only with an error of type compilation_in_progress")
    return {
        "estimated_seconds": count(
            compilation.get("estimated_seconds"), "compilation.estimated_seconds", 10**6
        ),
        "retry_after_blocks": count(
            compilation.get("retry_after_blocks"), "compilation.retry_after_blocks", 10**6
        ),
        # "" when the compiler named none (the indexer sends that rather than no field).
        "cache_key": text(compilation.get("cache_key"), "compilation.cache_key", 256, False) or "",
    }


def output_json(output):
    """The output as JSON text, refused when it is nested too deeply or too large in bytes."""
    stack = [(output, 1)] if isinstance(output, (list, dict)) else []
    while stack:
        value, depth = stack.pop()
        if depth > MAX_OUTPUT_DEPTH:
            fail(
                "the output is nested more than "
                + str(MAX_OUTPUT_DEPTH)
                + " levels deep; resolve it as failed with error type invalid_output"
            )
        for item in value.values() if isinstance(value, dict) else value:
            if isinstance(item, (list, dict)):
                stack.append((item, depth + 1))
    dumped = json.dumps(output)
    size = nbytes(dumped)
    if size > MAX_OUTPUT_BYTES:
        fail(
            "the output is "
            + str(size)
            + " bytes as JSON, larger than 16 KiB (16384 bytes), the most a request can "
            "return on chain; resolve it as failed with error type output_limit"
        )
    return dumped


def sweep_outputs(queue, now):
    """Frees outputs whose callback never took them (a failed callback); keeps the rest."""
    while queue:
        request_id, height = queue[0]
        key = "out:" + str(request_id)
        if near.storage_has_key(key):
            if now - height <= OUTPUT_GRACE_BLOCKS:
                break
            near.storage_remove(key)
        queue.pop(0)
    return queue


@near.export
def resolve_execution():
    """Settles the request now (fee, refunds, stats), then resumes the caller's callback, which
    only hands the result over: a failed callback cannot leave money or a request behind."""
    worker = near.predecessor_account_id()
    if not near.storage_has_key("w:" + worker):
        fail("only registered workers may resolve requests")
    a = args()
    request_id = a.get("request_id")
    key = "req:" + str(request_id)
    request = get(key)
    if request is None:
        fail("request " + str(request_id) + " does not exist (or was already settled)")
    if request["status"] != "pending":
        fail("request " + str(request_id) + " was already resolved")
    success = a.get("success")
    if not isinstance(success, bool):
        fail("success must be true or false")
    used = check_usage(a.get("resources_used"))
    error = check_error(a.get("error"))
    compilation = check_compilation(a.get("compilation"), error)
    refund_asked = u128(a.get("refund_usd") or 0, "refund_usd")
    output = output_json(a.get("output"))

    fee = charge_for(request, used)
    usd = int(request["attached_usd"])
    refund_usd = min(refund_asked, usd) if success else usd
    settle(request, fee, refund_usd, "completed" if success else "failed")
    near.storage_remove(key)
    status = "success" if success else "failed"
    outcome = {
        "request_id": request["request_id"],
        "status": status,
        "error": error,
        "resources_used": used,
        "refund_usd": str(refund_usd),
        "charged": str(fee),
        "compilation": compilation,
    }
    # The output is spliced in as text: the callback never parses it again.
    result = json.dumps(outcome)[:-1] + ', "output": ' + output + "}"
    now = near.block_height()
    queue = sweep_outputs(get("outq", []), now)
    payload = result
    if nbytes(result) > MAX_RESUME_BYTES:
        near.storage_write("out:" + str(request["request_id"]), result)
        queue.append([request["request_id"], now])
        payload = "stored"
    if queue:
        put("outq", queue)
    else:
        near.storage_remove("outq")
    emit(
        "execution_completed",
        {"request_id": request["request_id"], "status": status, "error": error,
         "resources_used": used, "charged": str(fee)},
    )  # fmt: skip
    if not near.promise_yield_resume(binascii.unhexlify(request["data_id"]), payload):
        fail("request " + str(request_id) + " can no longer be resumed (its yield timed out)")
    ret(True)


@near.export
def on_execution_response():
    """The yield's callback: the resolved result as resolve left it, or the timeout."""
    only_self()
    request_id = args()["request_id"]
    status, data = near.promise_result(0)
    if status == 1:
        if data[:1] != b"{":
            key = "out:" + str(request_id)
            data = near.storage_read(key)
            if data is None:
                data = json.dumps(
                    {"request_id": request_id, "status": "failed", "output": None,
                     "error": {"type": "output_lost",
                               "message": "the result was settled but its output was freed"}}
                )  # fmt: skip
            else:
                near.storage_remove(key)
        near.value_return(data)
        return
    key = "req:" + str(request_id)
    request = get(key)
    if request is None or request["status"] != "pending":
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
    fee = min(int(request_pricing(request)["base_fee"]), int(request["payment"]))
    settle(request, fee, 0, "timed_out")
    near.storage_remove(key)
    none = {"instructions": 0, "time_ms": 0, "compile_ms": 0}
    error = {"type": "timeout", "message": "no worker resolved the request in time"}
    emit(
        "execution_completed",
        {"request_id": request_id, "status": "failed", "error": error,
         "resources_used": none, "charged": str(fee)},
    )  # fmt: skip
    ret(
        {
            "request_id": request_id,
            "status": "failed",
            "output": None,
            "error": error,
            "resources_used": none,
            "refund_usd": "0",
            "charged": str(fee),
            "compilation": None,
        }
    )


def settle(request, fee, refund_usd, counter):
    """Fee to the owner, the rest of the deposit back to the sender; attached USD less the
    refund to the project owner when the run succeeded, all of it back to the sender otherwise."""
    deposit = int(request["payment"])
    transfer(owner(), fee)
    transfer(request["sender_id"], deposit - fee)
    s = stats()
    s["total_fees"] = str(int(s["total_fees"]) + fee)
    s[counter] = s.get(counter, 0) + 1
    put("stats", s)
    usd = int(request["attached_usd"])
    if usd > 0:
        token = request["usd_token_id"]
        back = refund_usd if counter == "completed" else usd
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
    if request["status"] != "pending":
        fail("request " + str(request_id) + " was already resolved")
    if request["sender_id"] != near.predecessor_account_id():
        fail("only the sender of a request may cancel it")
    age = near.block_timestamp() - request["timestamp"]
    if age < STALE_AFTER_NS:
        fail(
            "a request can be cancelled 10 minutes after it was made; wait "
            + str((STALE_AFTER_NS - age) // 10**9)
            + " more seconds"
        )
    fee = min(int(request_pricing(request)["base_fee"]), int(request["payment"]))
    settle(request, fee, 0, "cancelled")
    near.storage_remove(key)
    emit(
        "execution_completed",
        {"request_id": request_id, "status": "cancelled", "error": None,
         "resources_used": {"instructions": 0, "time_ms": 0, "compile_ms": 0},
         "charged": str(fee)},
    )  # fmt: skip
    ret(True)


@near.export
def get_request():
    ret(get("req:" + str(args().get("request_id"))))


@near.export
def get_stats():
    ret(stats())


# --- secrets ------------------------------------------------------------------------------------
def norm_repo(repo):
    """The one rule (also outlayer/repos.py's): trimmed, lowercased, trailing "/"s and then one
    trailing ".git" removed."""
    if not isinstance(repo, str):
        fail("repo is required")
    repo = repo.strip().lower().rstrip("/")
    if repo.endswith(".git"):
        repo = repo[:-4]
    if not repo:
        fail("repo is required")
    if nbytes(repo) != len(repo) or len(repo) > 256:
        fail("repo must be an ASCII URL of at most 256 characters")
    return repo


def norm_branch(branch):
    """No branch and "" are the same secrets."""
    if branch is None:
        return ""
    return text(branch, "branch", MAX_REF, required=False)


def secret_key(account, repo, branch, profile):
    return "sec:" + account + "|" + repo + "|" + branch + "|" + profile


def secret_target(a, account):
    repo = norm_repo(a.get("repo"))
    branch = norm_branch(a.get("branch"))
    profile = text(a.get("profile"), "profile", 64)
    entry = {"repo": repo, "branch": branch, "profile": profile}
    return secret_key(account, repo, branch, profile), entry


def item_separator():
    return len(json.dumps([0, 0])) - len(json.dumps([0])) - 1


def entry_bytes(entry):
    """What one entry adds to the user's index (a JSON list): the entry and a separator."""
    return nbytes(json.dumps([entry])) - 2 + item_separator()


def index_bytes(index_key):
    """What an index costs beyond its entries: its key, NEAR's record overhead, the brackets."""
    return nbytes(index_key) + RECORD_BYTES + 2 - item_separator()


def padded(value):
    digits = str(value)
    return "0" * (DEPOSIT_DIGITS - len(digits)) + digits


def stored_deposit(raw):
    """The deposit of a stored secrets record, read from its end without parsing the blob."""
    if raw is None:
        return 0
    tail = raw[-(DEPOSIT_DIGITS + 2) :]
    if tail[-2:] == b'"}' and tail[:-2].isdigit():
        return int(tail[:-2])
    return int(json.loads(raw)["deposit"])  # a record stored before fixed-width deposits


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


# --- keystores: the register contract says which are genuine -----------------------------------
def usable_keystore(key):
    """With a register contract set, secrets must name the registered keystore key (its
    identity key, which signs the repository keys) they were encrypted to."""
    register = get("register_contract")
    if key is not None:
        key = text(key, "keystore_key", 64).lower()
    if register is None:
        return key
    if key is None:
        fail("keystore_key is required: encrypt the secrets to a keystore registered in "
             + register + " and name its identity key")  # fmt: skip
    status = get("ks:" + key)
    if status is None:
        fail("keystore " + key + " is not registered in " + register)
    if not status["active"]:
        fail("keystore " + key + " was revoked in " + register
             + ": encrypt the secrets again to a registered keystore")  # fmt: skip
    if near.block_timestamp() >= status["expires_at"]:
        fail("keystore " + key + "'s registration in " + register
             + " has expired: it must register again with fresh collateral")  # fmt: skip
    return key


@near.export
def set_register_contract():
    """The register contract (contract/register/) whose keystores secrets are encrypted to."""
    only_owner()
    put("register_contract", text(args().get("account_id"), "account_id", 64))
    ret(True)


@near.export
def on_keystore_update():
    """The register contract reports a keystore: registered until expires_at, or revoked."""
    register = get("register_contract")
    if register is None or near.predecessor_account_id() != register:
        fail("only the register contract (" + str(register) + ") reports keystores")
    a = args()
    identity = text(a.get("identity_key"), "identity_key", 64).lower()
    expires = count(a.get("expires_at"), "expires_at")
    put("ks:" + identity, {"active": a.get("active") is True, "expires_at": expires})
    ret(True)


@near.export
def get_keystore_status():
    """{"register_contract", "identity_key", "registered", "active", "expires_at"} (view)."""
    identity = text(args().get("identity_key"), "identity_key", 64).lower()
    status = get("ks:" + identity) or {}
    ret(
        {
            "register_contract": get("register_contract"),
            "identity_key": identity,
            "registered": bool(status),
            "active": status.get("active", False),
            "expires_at": status.get("expires_at"),
        }
    )


@near.export
def store_secrets():
    """Stores (or replaces) one set of secrets. The deposit held for it is exactly the storage
    it takes (its record and its index entry); the index's own overhead is held while the
    account has any secrets. Without ``access``, only the storing account may use them."""
    a = args()
    account = near.predecessor_account_id()
    key, entry = secret_target(a, account)
    # Stored only for what a request can name (reading and deleting take any spelling stored
    # before these rules, so no deposit is ever held by a record that cannot be deleted).
    check_github_repo(entry["repo"], "repo")
    if entry["branch"]:
        check_ref(entry["branch"], "branch")
    blob = a.get("encrypted_secrets_base64")
    if not isinstance(blob, str) or not blob:
        fail("encrypted_secrets_base64 is required")
    if len(blob) > MAX_BLOB_BYTES:
        fail("encrypted_secrets_base64 is longer than " + str(MAX_BLOB_BYTES) + " bytes")
    body = blob.rstrip("=")
    # strip() runs in C: what is left once every base64 character is stripped is invalid.
    if len(blob) % 4 != 0 or body.strip(B64) or len(blob) - len(body) > 2:
        fail("encrypted_secrets_base64 is not valid base64")
    access = a.get("access")
    if access is None:
        access = {"Whitelist": {"accounts": [account]}}
    check_condition(access, 0)
    keystore_key = usable_keystore(a.get("keystore_key"))
    old_deposit = stored_deposit(near.storage_read(key))
    # Dumped once, the deposit last at a fixed width: the record's size does not depend on it.
    record = {"encrypted_secrets_base64": blob, "access": access}
    if keystore_key is not None:
        record["keystore_key"] = keystore_key
    head = json.dumps(record)[:-1]
    head += ', "deposit": "'
    used = nbytes(key) + nbytes(head) + DEPOSIT_DIGITS + 2 + RECORD_BYTES + entry_bytes(entry)
    deposit = used * STORAGE_PRICE
    index_key = "usec:" + account
    index = get(index_key, [])
    needed = deposit - old_deposit
    if not index:
        needed += index_bytes(index_key) * STORAGE_PRICE
    if entry not in index:
        index.append(entry)
        put(index_key, index)
    near.storage_write(key, head + padded(deposit) + '"}')
    attached = near.attached_deposit()
    if attached < needed:
        fail("attach at least " + str(needed) + " yoctoNEAR for the storage these secrets take")
    transfer(account, attached - needed)
    ret(
        {
            "storage_deposit": str(deposit),
            "charged": str(needed if needed > 0 else 0),
            "refunded": str(attached - needed),
        }
    )


@near.export
def delete_secrets():
    a = args()
    account = near.predecessor_account_id()
    key, entry = secret_target(a, account)
    raw = near.storage_read(key)
    if raw is None:
        fail("no secrets stored for that repo, branch and profile")
    near.storage_remove(key)
    index_key = "usec:" + account
    index = [e for e in get(index_key, []) if e != entry]
    refund = stored_deposit(raw)
    if index:
        put(index_key, index)
    else:  # its last secrets: the index goes, and the deposit held for it
        near.storage_remove(index_key)
        refund += index_bytes(index_key) * STORAGE_PRICE
    transfer(account, refund)
    ret({"refunded": str(refund)})


@near.export
def get_secrets():
    a = args()
    owner_id = a.get("owner")
    if not isinstance(owner_id, str):
        fail("owner is required")
    key, _ = secret_target(a, owner_id)
    record = get(key)
    if record is None:
        ret(None)
        return
    found = {
        "encrypted_secrets_base64": record["encrypted_secrets_base64"],
        "access": record["access"],
    }
    if "keystore_key" in record:
        found["keystore_key"] = record["keystore_key"]
    ret(found)


@near.export
def list_user_secrets():
    ret(get("usec:" + str(args().get("account_id")), []))


# --- storage paid by its owner ------------------------------------------------------------------
def pay_storage(before, account):
    """Charges the signer exactly the storage this call added since ``before`` (its
    storage_usage), refunds the rest of the attached deposit, and returns what it kept."""
    used = near.storage_usage() - before
    needed = used * STORAGE_PRICE if used > 0 else 0
    attached = near.attached_deposit()
    if attached < needed:
        fail("attach at least " + str(needed) + " yoctoNEAR for the storage this takes")
    transfer(account, attached - needed)
    return needed


def freed_storage(before):
    """What this call freed since ``before``, in yoctoNEAR (refunded to the owner)."""
    freed = before - near.storage_usage()
    return freed * STORAGE_PRICE if freed > 0 else 0


def fixed(value, digits=COUNT_DIGITS):
    digits_text = str(value)
    return "0" * (digits - len(digits_text)) + digits_text


# --- projects -----------------------------------------------------------------------------------
def check_name(value, name="name"):
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= 64
        or value.strip(NAME_CHARS)
        or value[0] in "-_."
    ):
        fail(
            name + " must be 1 to 64 characters of a-z, 0-9, '-', '_' and '.', starting with a "
            "letter or a digit, got " + repr(value)[:80]
        )
    return value


def check_sha256(value, name):
    if not isinstance(value, str) or len(value) != 64 or value.lower().strip(HEX):
        fail(name + " must be 64 hexadecimal characters (a SHA-256), got " + repr(value)[:80])
    return value.lower()


def version_source(a):
    """Exactly one of code_source (its repo normalised) and wasm_sha256."""
    has_source = a.get("code_source") is not None
    has_wasm = a.get("wasm_sha256") is not None
    if has_source == has_wasm:
        fail(
            'a version needs exactly one of code_source {"repo", "commit"} and wasm_sha256 '
            "(the module's SHA-256)"
        )
    if has_wasm:
        return {"wasm_sha256": check_sha256(a["wasm_sha256"], "wasm_sha256")}
    source = a["code_source"]
    if isinstance(source, dict) and isinstance(source.get("repo"), str):
        source = dict(source)
        source["repo"] = norm_repo(source["repo"])  # before it is checked: any spelling works
    return {"code_source": check_source(source)}


def project_key(project_id):
    return "prj:" + project_id


def version_key(project_id, version):
    return "pv:" + project_id + "/" + str(version)


def own_project(a):
    """The signer's project named by ``name``: its id and record."""
    account = near.predecessor_account_id()
    name = check_name(a.get("name"))
    project_id = account + "/" + name
    record = get(project_key(project_id))
    if record is None:
        fail("you have no project named " + repr(name) + "; create_project makes one")
    return project_id, record


def describe_project(project_id, record):
    return {
        "project_id": project_id,
        "owner": record["owner"],
        "name": record["name"],
        "active_version": int(record["active_version"]),
        "versions": int(record["versions"]),
        "created_at": record["created_at"],
    }


def describe_version(raw):
    record = json.loads(raw)
    record["version"] = int(record["version"])
    return record


def put_version(project_id, version, source):
    record = {"version": fixed(version), "created_at": near.block_timestamp()}
    record.update(source)
    put(version_key(project_id, version), record)


@near.export
def create_project():
    """A project owned by the signer, with its first version active. Attach the storage it
    takes (returned, with what came back); delete_project refunds it."""
    a = args()
    account = near.predecessor_account_id()
    name = check_name(a.get("name"))
    source = version_source(a)
    project_id = account + "/" + name
    if near.storage_has_key(project_key(project_id)):
        fail("you already have a project named " + repr(name) + "; add_version adds a version")
    index_key = "uprj:" + account
    index = get(index_key, [])
    if len(index) >= MAX_PROJECTS:
        fail("an account holds at most " + str(MAX_PROJECTS) + " projects; delete one first")
    before = near.storage_usage()
    now = near.block_timestamp()
    record = {"owner": account, "name": name, "active_version": fixed(1), "versions": fixed(1),
              "created_at": now}  # fmt: skip
    put(project_key(project_id), record)
    put_version(project_id, 1, source)
    index.append(name)
    put(index_key, index)
    charged = pay_storage(before, account)
    event = {"project_id": project_id, "owner": account, "name": name, "version": 1,
             "created_at": now}  # fmt: skip
    event.update(source)
    emit("project_created", event)
    ret({"project_id": project_id, "version": 1, "storage_deposit": str(charged),
         "refunded": str(near.attached_deposit() - charged)})  # fmt: skip


@near.export
def add_version():
    """A new version of the signer's project; it becomes the active one unless
    ``activate`` is false. Attach the storage it takes."""
    a = args()
    account = near.predecessor_account_id()
    project_id, record = own_project(a)
    source = version_source(a)
    activate = a.get("activate")
    if activate is None:
        activate = True
    if not isinstance(activate, bool):
        fail("activate must be true or false")
    version = int(record["versions"]) + 1
    if version > MAX_VERSIONS:
        fail("a project holds at most " + str(MAX_VERSIONS) + " versions")
    before = near.storage_usage()
    record["versions"] = fixed(version)
    if activate:
        record["active_version"] = fixed(version)
    put(project_key(project_id), record)
    put_version(project_id, version, source)
    charged = pay_storage(before, account)
    active = int(record["active_version"])
    event = {"project_id": project_id, "owner": account, "name": record["name"],
             "version": version, "active_version": active}  # fmt: skip
    event.update(source)
    emit("project_version_added", event)
    ret({"project_id": project_id, "version": version, "active_version": active,
         "storage_deposit": str(charged),
         "refunded": str(near.attached_deposit() - charged)})  # fmt: skip


@near.export
def set_active_version():
    """Which version a call that names none runs (any version the project has)."""
    a = args()
    project_id, record = own_project(a)
    versions = int(record["versions"])
    version = a.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= versions:
        fail("version must be a whole number from 1 to " + str(versions) + ", got "
             + repr(version)[:80])  # fmt: skip
    record["active_version"] = fixed(version)
    put(project_key(project_id), record)  # the same size: nothing to pay or refund
    emit("project_active_version_set", {"project_id": project_id, "owner": record["owner"],
                                        "name": record["name"], "version": version})  # fmt: skip
    ret(True)


@near.export
def delete_project():
    """Removes the signer's project and every version, and refunds their storage."""
    a = args()
    account = near.predecessor_account_id()
    project_id, record = own_project(a)
    before = near.storage_usage()
    for version in range(1, int(record["versions"]) + 1):
        near.storage_remove(version_key(project_id, version))
    near.storage_remove(project_key(project_id))
    index_key = "uprj:" + account
    index = [n for n in get(index_key, []) if n != record["name"]]
    if index:
        put(index_key, index)
    else:
        near.storage_remove(index_key)
    refund = freed_storage(before)
    transfer(account, refund)
    emit("project_deleted", {"project_id": project_id, "owner": account, "name": record["name"],
                             "refunded": str(refund)})  # fmt: skip
    ret({"refunded": str(refund)})


def project_id_arg(a):
    project_id = a.get("project_id")
    if not isinstance(project_id, str) or project_id.count("/") != 1:
        fail('project_id must be "OWNER/NAME", got ' + repr(project_id)[:80])
    return project_id


@near.export
def get_project():
    """A project and its active version, or null."""
    project_id = project_id_arg(args())
    record = get(project_key(project_id))
    if record is None:
        ret(None)
        return
    out = describe_project(project_id, record)
    out["active"] = describe_version(
        near.storage_read(version_key(project_id, out["active_version"]))
    )
    ret(out)


@near.export
def list_user_projects():
    account = str(args().get("account_id"))
    ret([describe_project(account + "/" + name, get(project_key(account + "/" + name)))
         for name in get("uprj:" + account, [])])  # fmt: skip


@near.export
def list_versions():
    """Versions from ``from`` (default 1), at most ``limit`` (default and cap 100)."""
    a = args()
    project_id = project_id_arg(a)
    record = get(project_key(project_id))
    if record is None:
        ret([])
        return
    start = a.get("from")
    start = 1 if start is None else count(start, "from")
    limit = a.get("limit")
    limit = MAX_LIST if limit is None else count(limit, "limit", MAX_LIST)
    start = max(start, 1)
    end = min(int(record["versions"]), start + limit - 1)
    ret([describe_version(near.storage_read(version_key(project_id, v)))
         for v in range(start, end + 1)])  # fmt: skip


# --- stablecoin payments ------------------------------------------------------------------------
def balance_key(account, token):
    return "bal:" + account + ":" + token


def add_to(key, value):
    """Adds to a balance stored as a JSON string (a user's balance)."""
    put(key, str(int(get(key, "0")) + value))


def add_earnings(account, token, value):
    if value > 0:
        key = "earn:" + account
        earnings = get(key, {})
        earnings[token] = str(int(earnings.get(token, "0")) + value)
        put(key, earnings)


def pay_out(account, token, value, into, event):
    """Sends ``value`` of a token (or of NEAR) to ``account``. A failed token transfer is
    credited back ``into`` the account's earnings ("earn") or balance ("bal"); a successful one
    logs ``event`` (if any). Returns the promise to wait for, or None for NEAR."""
    if token == NEAR_TOKEN:
        transfer(account, value)
        if event:
            emit(event, {"account_id": account, "token_id": token, "amount": str(value)})
        return None
    p = near.promise_create(
        token,
        "ft_transfer",
        json.dumps({"receiver_id": account, "amount": str(value)}),
        1,
        FT_TRANSFER_GAS,
    )
    return near.promise_then(
        p,
        near.current_account_id(),
        "on_withdraw",
        json.dumps(
            {
                "account_id": account,
                "token_id": token,
                "amount": str(value),
                "into": into,
                "event": event,
            }
        ),
        0,
        CALLBACK_GAS,
    )


def withdrawal(a, balance, token, what):
    """How much to withdraw: ``amount`` (default: everything), refused above the balance."""
    value = balance if a.get("amount") is None else u128(a.get("amount"), "amount")
    if balance <= 0:
        fail("no " + what + " to withdraw in token " + repr(token))
    if value <= 0:
        fail("amount must be positive")
    if value > balance:
        fail(
            "cannot withdraw "
            + str(value)
            + ": your "
            + what
            + " in "
            + token
            + " is "
            + str(balance)
        )
    return value


@near.export
def ft_on_transfer():
    """NEP-141: msg {"action": "deposit_balance"} credits the sender's balance; msg
    {"action": "top_up_payment_key", "owner", "nonce"} tops up the sender's own payment key in
    that token. Anything else (or a refused top-up) returns the whole amount as unused, and the
    token gives it back."""
    token = near.predecessor_account_id()
    a = args()
    value = u128(a.get("amount"), "amount")
    sender = str(a.get("sender_id"))
    try:
        msg = json.loads(a.get("msg") or "{}")
    except Exception:
        msg = {}
    action = msg.get("action") if isinstance(msg, dict) else None
    if not get("tok:" + token) or action not in ("deposit_balance", "top_up_payment_key"):
        ret(str(value))  # not for us: the token contract refunds everything
        return
    if action == "deposit_balance":
        add_to(balance_key(sender, token), value)
        ret("0")
        return
    owner_id = msg.get("owner")
    nonce = msg.get("nonce")
    record = None
    if isinstance(owner_id, str) and isinstance(nonce, int) and not isinstance(nonce, bool):
        record = get(payment_key_key(owner_id, nonce))
    refusal = top_up_refusal(record, sender, token, value)
    if refusal:
        near.log_utf8("OutLayer: returned " + str(value) + " of " + token + ": " + refusal)
        ret(str(value))
        return
    top_up(record, sender, value)
    ret("0")


@near.export
def get_user_balance():
    a = args()
    ret(get(balance_key(str(a.get("account_id")), str(a.get("token_id"))), "0"))


@near.export
def withdraw_user_balance():
    """Sends the signer's unused deposited balance (``amount``, default all) back by
    ft_transfer; the balance is restored if the transfer fails."""
    account = near.predecessor_account_id()
    a = args()
    token = text(a.get("token_id"), "token_id", 64)
    key = balance_key(account, token)
    balance = int(get(key, "0"))
    value = withdrawal(a, balance, token, "balance")
    if balance - value:
        put(key, str(balance - value))
    else:
        near.storage_remove(key)
    near.promise_return(pay_out(account, token, value, "bal", "balance_withdrawn"))


@near.export
def get_developer_earnings():
    ret(get("earn:" + str(args().get("account_id")), {}))


@near.export
def withdraw_developer_earnings():
    """Pays out the signer's earnings in one token (``amount``, default all): what requests
    paid on chain and what the operator settled from HTTPS usage. "near" pays yoctoNEAR."""
    account = near.predecessor_account_id()
    a = args()
    token = a.get("token_id")
    key = "earn:" + account
    earnings = get(key, {})
    if not isinstance(token, str):
        fail('token_id is required: a token account id, or "near"')
    value = withdrawal(a, int(earnings.get(token, "0")), token, "earnings")
    left = int(earnings[token]) - value
    if left:
        earnings[token] = str(left)
    else:
        earnings.pop(token)
    if earnings:
        put(key, earnings)
    else:
        near.storage_remove(key)
    promise = pay_out(account, token, value, "earn", "earnings_withdrawn")
    if promise is None:
        ret(True)
    else:
        near.promise_return(promise)


@near.export
def on_withdraw():
    only_self()
    a = args()
    status, _ = near.promise_result(0)
    if status == 1:
        if a.get("event"):
            emit(a["event"], {"account_id": a["account_id"], "token_id": a["token_id"],
                              "amount": a["amount"]})  # fmt: skip
        ret(True)
        return
    # The transfer failed: give the money back where it came from.
    if a.get("into") == "bal":
        add_to(balance_key(a["account_id"], a["token_id"]), int(a["amount"]))
    else:
        add_earnings(a["account_id"], a["token_id"], int(a["amount"]))
    ret(False)


# --- payment keys -------------------------------------------------------------------------------
def payment_key_key(owner_id, nonce):
    return "pk:" + owner_id + ":" + str(nonce)


def key_view(record):
    out = dict(record)
    out["balance"] = str(int(record["balance"]))
    return out


def key_name(record):
    return record["owner"] + "/" + str(record["nonce"])


def expired(record):
    return record["expires_at"] is not None and near.block_timestamp() >= record["expires_at"]


def top_up_refusal(record, sender, token, value):
    """Why a top-up cannot be taken (None when it can)."""
    if record is None:
        return "no such payment key (see get_payment_key)"
    if sender != record["owner"]:
        return "only the owner of payment key " + key_name(record) + " may top it up"
    if token != record["token_id"]:
        return "payment key " + key_name(record) + " is funded in " + record["token_id"]
    if expired(record):
        return "payment key " + key_name(record) + " has expired"
    if value <= 0:
        return "a top-up must be positive"
    if int(record["balance"]) + value >= U128:
        return "the balance would pass 2^128"
    return None


def top_up(record, sender, value):
    balance = int(record["balance"]) + value
    record["balance"] = padded(balance)
    put(payment_key_key(record["owner"], record["nonce"]), record)  # the same size
    emit("payment_key_topped_up", {"owner": record["owner"], "nonce": record["nonce"],
                                   "token_id": record["token_id"], "amount": str(value),
                                   "balance": str(balance)})  # fmt: skip
    return balance


def check_allowed_projects(value):
    if value is None:
        return None
    if not isinstance(value, list) or not 0 < len(value) <= MAX_ALLOWED_PROJECTS:
        fail(
            'allowed_projects must be a list of 1 to 20 "OWNER/NAME" project ids, or null '
            "for any project"
        )
    for project_id in value:
        if not isinstance(project_id, str) or project_id.count("/") != 1:
            fail('allowed_projects holds "OWNER/NAME" project ids, got ' + repr(project_id)[:80])
        owner_id, name = project_id.split("/")
        text(owner_id, "an allowed project's owner", 64)
        check_name(name, "an allowed project's name")
    return value


@near.export
def create_payment_key():
    """A payment key owned by the signer. The contract keeps only the SHA-256 of its secret
    (``key_hash``, hex) and its limits; the nonce (1, 2, ... per owner, never reused) names it.
    Attach the storage it takes; delete_payment_key refunds it with the unused balance."""
    a = args()
    account = near.predecessor_account_id()
    key_hash = check_sha256(a.get("key_hash"), "key_hash")
    token = a.get("token_id")
    if token != NEAR_TOKEN and (not isinstance(token, str) or not get("tok:" + token)):
        fail('token_id must be a whitelisted token or "near", got ' + repr(token)[:80])
    most = a.get("max_per_call")
    most = None if most is None else str(u128(most, "max_per_call"))
    allowed = check_allowed_projects(a.get("allowed_projects"))
    expires_at = a.get("expires_at")
    if expires_at is not None:
        expires_at = count(expires_at, "expires_at (nanoseconds since 1970)")
        if expires_at <= near.block_timestamp():
            fail("expires_at is in the past (nanoseconds since 1970, like block timestamps)")
    hash_key = "pkh:" + key_hash
    if near.storage_has_key(hash_key):
        fail("a payment key with this key_hash exists already; make a new secret")
    nonce_key = "pkn:" + account
    nonce = get(nonce_key, 0) + 1
    before = near.storage_usage()
    put(nonce_key, nonce)
    now = near.block_timestamp()
    record = {"owner": account, "nonce": nonce, "key_hash": key_hash, "token_id": token,
              "balance": padded(0), "max_per_call": most, "allowed_projects": allowed,
              "expires_at": expires_at, "created_at": now}  # fmt: skip
    put(payment_key_key(account, nonce), record)
    put(hash_key, [account, nonce])
    charged = pay_storage(before, account)
    emit("payment_key_created", key_view(record))
    ret({"owner": account, "nonce": nonce, "storage_deposit": str(charged),
         "refunded": str(near.attached_deposit() - charged)})  # fmt: skip


def own_key(a, action):
    account = near.predecessor_account_id()
    owner_id = a.get("owner")
    if owner_id is not None and owner_id != account:
        fail("only the owner of a payment key may " + action + " it")
    nonce = count(a.get("nonce"), "nonce")
    record = get(payment_key_key(account, nonce))
    if record is None:
        fail("you have no payment key with nonce " + str(nonce))
    return record


@near.export
def top_up_payment_key():
    """Adds the attached NEAR to the signer's payment key funded in "near"."""
    record = own_key(args(), "top up")
    refusal = top_up_refusal(record, record["owner"], NEAR_TOKEN, near.attached_deposit())
    if refusal:
        if record["token_id"] != NEAR_TOKEN:
            refusal += ": top it up with ft_transfer_call (msg top_up_payment_key)"
        fail(refusal)
    ret({"balance": str(top_up(record, record["owner"], near.attached_deposit()))})


@near.export
def delete_payment_key():
    """Deletes the signer's payment key: its storage comes back in NEAR, its unused balance in
    its token (by ft_transfer; if that fails, into the owner's balance, see
    withdraw_user_balance) or in NEAR."""
    record = own_key(args(), "delete")
    account = record["owner"]
    before = near.storage_usage()
    near.storage_remove(payment_key_key(account, record["nonce"]))
    near.storage_remove("pkh:" + record["key_hash"])
    storage = freed_storage(before)
    balance = int(record["balance"])
    token = record["token_id"]
    if token == NEAR_TOKEN:
        transfer(account, storage + balance)
    else:
        transfer(account, storage)
        if balance > 0:
            pay_out(account, token, balance, "bal", None)
    emit("payment_key_deleted", {"owner": account, "nonce": record["nonce"],
                                 "key_hash": record["key_hash"], "token_id": token,
                                 "refunded_balance": str(balance),
                                 "refunded_storage": str(storage)})  # fmt: skip
    ret({"token_id": token, "refunded_balance": str(balance), "refunded_storage": str(storage)})


@near.export
def get_payment_key():
    """{owner, nonce, key_hash, token_id, balance, max_per_call, allowed_projects, expires_at,
    created_at} or null."""
    a = args()
    nonce = a.get("nonce")
    record = get(payment_key_key(str(a.get("owner")), nonce)) if isinstance(nonce, int) else None
    ret(None if record is None else key_view(record))


@near.export
def find_payment_key():
    """The key whose secret has this SHA-256 (``key_hash``, hex), or null: how a service that
    was given a secret finds its owner and nonce."""
    key_hash = args().get("key_hash")
    names = get("pkh:" + key_hash.lower()) if isinstance(key_hash, str) else None
    record = None if names is None else get(payment_key_key(names[0], names[1]))
    ret(None if record is None else key_view(record))


# --- HTTPS usage settled on chain ---------------------------------------------------------------
def operator():
    return get("operator") or owner()


@near.export
def set_operator():
    """The account that settles HTTPS usage (the owner until one is set)."""
    only_owner()
    put("operator", text(args().get("account_id"), "account_id", 64))
    ret(True)


@near.export
def get_operator():
    ret(operator())


def settlement_state():
    return get("hus", {"last_ledger_id": 0, "batches": 0, "entries": 0})


@near.export
def get_https_settlement():
    """{last_ledger_id, batches, entries}: the next batch's ledger ids must be above the last."""
    ret(settlement_state())


def settle_entry(entry, where, last, keys):
    """Checks one settlement entry against the ledger id before it and its payment key (as
    the batch left it in ``keys``), debits the key there, and returns the entry as applied."""
    if not isinstance(entry, dict):
        fail(where + " must be an object")
    ledger_id = count(entry.get("ledger_id"), where + ".ledger_id")
    if ledger_id <= last:
        fail(
            where
            + ".ledger_id "
            + str(ledger_id)
            + " is not above "
            + str(last)
            + " (the last settled or the entry before): settled already or out of order; "
            "the whole batch is refused"
        )
    key_owner = text(entry.get("key_owner"), where + ".key_owner", 64)
    nonce = count(entry.get("key_nonce"), where + ".key_nonce")
    developer = text(entry.get("owner"), where + ".owner", 64)
    project = text(entry.get("project"), where + ".project", 64)
    if "/" in project:  # any name the coordinator has (an operator's too), but one name
        fail(where + ".project must be a project name without '/', got " + repr(project)[:80])
    value = u128(entry.get("amount") or 0, where + ".amount")
    fee = u128(entry.get("fee") or 0, where + ".fee")
    storage_key = payment_key_key(key_owner, nonce)
    record = keys.get(storage_key) or get(storage_key)
    if record is None:
        fail(where + ": payment key " + key_owner + "/" + str(nonce) + " does not exist")
    name = key_name(record)
    allowed = record["allowed_projects"]
    if allowed is not None and developer + "/" + project not in allowed:
        fail(where + ": payment key " + name + " does not allow " + developer + "/" + project)
    most = record["max_per_call"]
    if most is not None and value + fee > int(most):
        fail(where + " charges " + str(value + fee) + ", above payment key " + name
             + "'s max_per_call of " + most)  # fmt: skip
    balance = int(record["balance"])
    if value + fee > balance:
        fail(
            where
            + " debits "
            + str(value + fee)
            + " from payment key "
            + name
            + ", whose balance is "
            + str(balance)
            + ": the whole batch is refused"
        )
    record["balance"] = padded(balance - value - fee)
    keys[storage_key] = record
    left = str(balance - value - fee)
    return {"ledger_id": ledger_id, "key_owner": key_owner, "key_nonce": nonce,
            "owner": developer, "project": project, "token_id": record["token_id"],
            "amount": str(value), "fee": str(fee), "key_balance": left}  # fmt: skip


@near.export
def settle_https_usage():
    """The operator moves what HTTPS calls cost from payment keys into earnings: each entry
    debits ``amount + fee`` from one key (in the key's token), credits ``amount`` to the
    project owner's earnings and ``fee`` to the contract owner's. Ledger ids must increase,
    above every id settled before: a batch applied twice is refused. Any bad entry refuses
    the whole batch, and nothing moves."""
    if near.predecessor_account_id() != operator():
        fail("only the operator (" + operator() + ") may settle HTTPS usage")
    a = args()
    batch_id = text(a.get("batch_id"), "batch_id", 64, required=False)
    entries = a.get("entries")
    if not isinstance(entries, list) or not 0 < len(entries) <= MAX_BATCH:
        fail("entries must be a list of 1 to " + str(MAX_BATCH) + " entries")
    state = settlement_state()
    fees_to = owner()
    last = state["last_ledger_id"]
    keys = {}
    credits = {}
    applied = []
    for i, entry in enumerate(entries):
        done = settle_entry(entry, "entries[" + str(i) + "]", last, keys)
        applied.append(done)
        last = done["ledger_id"]
        for account, value in ((done["owner"], done["amount"]), (fees_to, done["fee"])):
            owed = credits.setdefault(account, {})
            owed[done["token_id"]] = owed.get(done["token_id"], 0) + int(value)
    for storage_key, record in keys.items():
        put(storage_key, record)
    for account, owed in credits.items():  # one read and one write per account
        key = "earn:" + account
        earnings = get(key, {})
        for token, value in owed.items():
            if value > 0:
                earnings[token] = str(int(earnings.get(token, "0")) + value)
        if earnings:
            put(key, earnings)
    state["last_ledger_id"] = last
    state["batches"] = state["batches"] + 1
    state["entries"] = state["entries"] + len(applied)
    put("hus", state)
    first = applied[0]["ledger_id"]
    emit("https_usage_settled", {"batch_id": batch_id, "first_ledger_id": first,
                                 "last_ledger_id": last, "entries": applied})  # fmt: skip
    ret({"settled": len(applied), "last_ledger_id": last})
