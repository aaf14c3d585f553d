"""Fixes nearc 0.8.8 before contracts are built (run by set-up).

1. ``near.promise_yield_create`` returns the yield's data id as a ``str`` built with a UTF-8
   check; a real data id is 32 random bytes, so on NEAR (and on localnet) the call raises
   ``UnicodeError`` after the yield was already created. Patched to return ``bytes``, and
   ``near.promise_yield_resume`` to accept ``bytes``.
2. The same binding reads the yield's gas as a wasm32 machine word, which overflows at 2.1 Ggas
   (far below any useful amount). Patched to read a u64.
3. The MicroPython heap is 32 KiB, so a contract cannot handle a result of more than ~4 KB.
   Patched to 1 MiB (NEAR allows 64 MiB of memory; the heap is taken from the 16 MiB the
   contract already has).

Each edit is applied once (idempotent); if nearc's source no longer matches, set-up stops and
says so rather than building a contract with unknown bindings.
"""

from __future__ import annotations

from pathlib import Path

import nearc

PORT = Path(nearc.__file__).parent / "micropython" / "ports" / "webassembly-near"
# Part of the contracts' build fingerprint: change it whenever the edits change.
MARKER = "outlayer nearc patch v3"
EDITS = [
    (
        "modnear.c",
        "mp_obj_t items[] = { u64_to_mp_int(promise_id), read_default_temp_register_as_str() };",
        "mp_obj_t items[] = { u64_to_mp_int(promise_id), read_default_temp_register_as_bytes() };",
    ),
    (
        "modnear.c",
        "near_api_ptr_t data_id_ptr = get_mp_str_data(data_id);",
        "near_api_ptr_t data_id_ptr = get_mp_str_or_bytes_data(data_id);",
    ),
    (
        "modnear.c",
        "mp_obj_get_int(gas), mp_obj_get_int(gas_weight), default_temp_register_id);",
        "mp_int_to_u64(gas), mp_int_to_u64(gas_weight), default_temp_register_id);",
    ),
    ("main.c", "#define PYTHON_HEAP_SIZE 32768", "#define PYTHON_HEAP_SIZE (1024 * 1024)"),
]


def apply() -> int:
    """Applies the edits not yet applied; returns how many it applied."""
    applied = 0
    for name, old, new in EDITS:
        path = PORT / name
        source = path.read_text()
        if source.startswith("/* outlayer"):  # a marker line from an earlier version
            source = source.split("\n", 1)[1]
            path.write_text(source)
        if new in source:
            continue
        if source.count(old) != 1:
            raise SystemExit(
                f"cannot patch {path}: expected one `{old}`; nearc has changed, so review "
                "devtools/nearc_patch.py against it"
            )
        path.write_text(source.replace(old, new))
        applied += 1
    return applied


def main() -> None:
    applied = apply()
    print(f"    applied {applied} edit(s) to nearc" if applied else "    nearc already patched")


if __name__ == "__main__":
    main()
