"""An example client: a contract that asks OutLayer to run code and stores the result.

run(code_source, input_data?, resource_limits?, response_format?)  payable
    forwards the attached deposit to OutLayer's request_execution; OutLayer's answer arrives
    in on_result (possibly many blocks later), which stores it.
get_last_result()  view
"""

import json

import near

TGAS = 10**12


def args():
    raw = near.input()
    return json.loads(raw) if raw else {}


@near.export
def new():
    near.storage_write("outlayer", args()["outlayer_id"])


@near.export
def run():
    a = args()
    request = {
        "code_source": a["code_source"],
        "input_data": a.get("input_data", ""),
        "resource_limits": a.get("resource_limits"),
        "response_format": a.get("response_format", "text"),
    }
    outlayer = near.storage_read("outlayer").decode()
    p = near.promise_create(
        outlayer, "request_execution", json.dumps(request), near.attached_deposit(), 150 * TGAS
    )
    near.promise_return(
        near.promise_then(p, near.current_account_id(), "on_result", "{}", 0, 20 * TGAS)
    )


@near.export
def on_result():
    if near.predecessor_account_id() != near.current_account_id():
        near.panic_utf8("on_result is private")
    status, data = near.promise_result(0)
    if status == 1:
        result = json.loads(data)
    else:
        result = {
            "status": "failed",
            "error": {
                "type": "request_failed",
                "message": "OutLayer refused or failed the request",
            },
        }
    near.storage_write("last_result", json.dumps(result))
    near.value_return(json.dumps(result))


@near.export
def get_last_result():
    raw = near.storage_read("last_result")
    near.value_return(raw if raw is not None else "null")
