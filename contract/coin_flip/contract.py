"""An example client: a coin flip settled on chain with OutLayer's verifiable randomness.

new(outlayer_id, code_source)
    the OutLayer contract, and the guest that flips (a repository at a commit: its randomness
    comes from the keystore, bound to the request, so no one can re-roll it)
flip(guess)  payable: "heads" or "tails"; the deposit pays OutLayer (what it does not use comes
    back to this contract). The guest (sdk/rust/examples/coin-flip) draws with the player's
    account as its seed and answers {"side", "randomness"}; OutLayer's answer arrives in
    on_flipped, which settles the game: the outcome is the guest's, and the game keeps the proof
    anyone can check with
    `outlayer vrf verify --origin near:OUTLAYER:REQUEST_ID --seed-text PLAYER --proof PROOF`.
get_game(player)  view: the player's last game, or null
get_score(player)  view: {"won": n, "lost": n}
"""

import json

import near

TGAS = 10**12


def args():
    raw = near.input()
    return json.loads(raw) if raw else {}


def fail(message):
    near.panic_utf8(message)


@near.export
def new():
    a = args()
    if near.storage_read("outlayer") is not None:
        fail("already initialised")
    near.storage_write("outlayer", a["outlayer_id"])
    near.storage_write("code_source", json.dumps(a["code_source"]))


@near.export
def flip():
    guess = args().get("guess")
    if guess not in ("heads", "tails"):
        fail('guess must be "heads" or "tails"')
    player = near.predecessor_account_id()
    request = {
        "code_source": json.loads(near.storage_read("code_source")),
        "input_data": player,  # the guest's seed: each player's draw is their own
        "resource_limits": {"max_instructions": 100000000, "max_execution_seconds": 10},
        "response_format": "json",
    }
    outlayer = near.storage_read("outlayer").decode()
    p = near.promise_create(
        outlayer, "request_execution", json.dumps(request), near.attached_deposit(), 150 * TGAS
    )
    settle = json.dumps({"player": player, "guess": guess})
    near.promise_return(
        near.promise_then(p, near.current_account_id(), "on_flipped", settle, 0, 30 * TGAS)
    )


@near.export
def on_flipped():
    if near.predecessor_account_id() != near.current_account_id():
        fail("on_flipped is private")
    a = args()
    player, guess = a["player"], a["guess"]
    status, data = near.promise_result(0)
    game = {"player": player, "guess": guess, "settled": False}
    if status == 1:
        result = json.loads(data)
        output = result.get("output") or {}
        outlayer = near.storage_read("outlayer").decode()
        origin = "near:" + outlayer + ":" + str(result.get("request_id"))
        randomness = output.get("randomness") or {}
        # The randomness must be this request's and this player's: the guest cannot bring
        # another request's draw (the keystore binds it to its origin; anyone checks the proof).
        if result.get("status") == "success" and randomness.get("origin") == origin:
            outcome = output.get("side")
            if outcome in ("heads", "tails"):
                game = {
                    "player": player,
                    "guess": guess,
                    "settled": True,
                    "outcome": outcome,
                    "won": outcome == guess,
                    "request_id": result.get("request_id"),
                    "randomness": randomness,
                }
        if not game["settled"]:
            game["error"] = result.get("error") or {
                "type": "invalid_output",
                "message": "no outcome bound to the request",
            }
    else:
        game["error"] = {"type": "request_failed", "message": "OutLayer refused the request"}
    near.storage_write("game:" + player, json.dumps(game))
    if game["settled"]:
        key = "score:" + player
        raw = near.storage_read(key)
        score = json.loads(raw) if raw is not None else {"won": 0, "lost": 0}
        score["won" if game["won"] else "lost"] += 1
        near.storage_write(key, json.dumps(score))
    near.value_return(json.dumps(game))


@near.export
def get_game():
    raw = near.storage_read("game:" + args()["player"])
    near.value_return(raw if raw is not None else "null")


@near.export
def get_score():
    raw = near.storage_read("score:" + args()["player"])
    near.value_return(raw if raw is not None else json.dumps({"won": 0, "lost": 0}))
