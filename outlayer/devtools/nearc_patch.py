"""Fixes nearc 0.8.8's yield/resume bindings before contracts are built (run by set-up).

nearc's ``near.promise_yield_create`` returns the yield's data id as a ``str``, built with a
UTF-8 check; a real data id is 32 random bytes, so on NEAR (and on localnet) the call raises
``UnicodeError`` after the yield was already created; and it reads the yield's gas as a machine
word, which overflows for any useful amount. The patch returns the id as ``bytes``, lets
``near.promise_yield_resume`` take ``bytes``, and reads gas as u64. Idempotent (by a version
marker); fails loudly if nearc changed.
"""

from __future__ import annotations

from pathlib import Path

import nearc

MODNEAR = Path(nearc.__file__).parent / "micropython" / "ports" / "webassembly-near" / "modnear.c"
MARKER = "/* outlayer patch v2: yield data ids are bytes, yield gas is u64 */"
REPLACEMENTS = [
    (
        "mp_obj_t items[] = { u64_to_mp_int(promise_id), read_default_temp_register_as_str() };",
        "mp_obj_t items[] = { u64_to_mp_int(promise_id), read_default_temp_register_as_bytes() };",
    ),
    (
        "near_api_ptr_t data_id_ptr = get_mp_str_data(data_id);",
        "near_api_ptr_t data_id_ptr = get_mp_str_or_bytes_data(data_id);",
    ),
    # Gas is a u64; a wasm32 machine word overflows at 2.1 Ggas (0.002 Tgas).
    (
        "mp_obj_get_int(gas), mp_obj_get_int(gas_weight), default_temp_register_id);",
        "mp_int_to_u64(gas), mp_int_to_u64(gas_weight), default_temp_register_id);",
    ),
]


def apply() -> bool:
    """Patches modnear.c; returns True if it changed the file."""
    source = MODNEAR.read_text()
    if MARKER in source:
        return False
    if source.startswith("/* outlayer"):  # an older version of this patch: undo it first
        source = source.split("\n", 1)[1]
        for old, new in REPLACEMENTS:
            source = source.replace(new, old)
    for old, new in REPLACEMENTS:
        if source.count(old) != 1:
            raise SystemExit(
                f"cannot patch {MODNEAR}: expected one `{old}`; nearc has changed, so review "
                "outlayer/devtools/nearc_patch.py against it"
            )
        source = source.replace(old, new)
    MODNEAR.write_text(MARKER + "\n" + source)
    return True


def main() -> None:
    changed = apply()
    print("    patched nearc's yield bindings" if changed else "    nearc already patched")


if __name__ == "__main__":
    main()
