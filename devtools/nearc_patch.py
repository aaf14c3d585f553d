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
4. MicroPython's big integers use 16-bit digits on wasm32; 32-bit digits (uint64 products, which
   wasm has) make the register contract's ECDSA P-256 2.3x cheaper. mpz.c assumes a digit is
   narrower than a machine word in six places; the edits cast those through the double-digit
   type (and refuse a one-digit value that overflows a small int), which changes nothing at 16
   bits. The heap size becomes overridable. A contract opts in with ``MPZ32_ENV``
   (devtools/guestbuild.py); the others build as before.
5. The port's Makefile takes a contract's extra flags in variables of its own
   (``OUTLAYER_PORT_CFLAGS``, ``OUTLAYER_PORT_LDFLAGS``): nearc builds the native mpy-cross
   with the same environment, where gcc refuses emscripten's ``-s`` settings.

Each edit is applied once (idempotent); if nearc's source no longer matches, set-up stops and
says so rather than building a contract with unknown bindings.
"""

from __future__ import annotations

from pathlib import Path

import nearc

PORT = Path(nearc.__file__).parent / "micropython" / "ports" / "webassembly-near"
# Part of the contracts' build fingerprint: change it whenever the edits change.
MARKER = "outlayer nearc patch v4"
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
    (
        "../../py/mpz.h",
        "#else\n  #define MPZ_LONG_1 1L\n#endif",
        "#elif MPZ_DIG_SIZE > 16\n  #define MPZ_LONG_1 1LL\n#else\n  #define MPZ_LONG_1 1L\n#endif",
    ),
    (
        "../../py/mpz.c",
        "        uval >>= DIG_SIZE;\n    }\n}\n\nvoid mpz_set_from_ll",
        "        uval = (mp_uint_t)((mpz_dbl_dig_t)uval >> DIG_SIZE);\n    }\n}\n\n"
        "void mpz_set_from_ll",
    ),
    (
        "../../py/mpz.c",
        "    while (d-- > z->dig) {\n        val = (val << DIG_SIZE) | *d;",
        "    while (d-- > z->dig) {\n"
        "        val = (mp_uint_t)((mpz_dbl_dig_t)val << DIG_SIZE) | *d;",
    ),
    (
        "../../py/mpz.c",
        "        if (val > (~(MP_OBJ_WORD_MSBIT_HIGH) >> DIG_SIZE)) {\n"
        "            // will overflow\n            return false;\n        }\n"
        "        val = (val << DIG_SIZE) | *d;",
        "        if (val > (mp_uint_t)((mpz_dbl_dig_t)(~(MP_OBJ_WORD_MSBIT_HIGH)) >> DIG_SIZE)) {\n"
        "            // will overflow\n            return false;\n        }\n"
        "        val = (mp_uint_t)((mpz_dbl_dig_t)val << DIG_SIZE) | *d;",
    ),
    (
        "../../py/mpz.c",
        "        if (val > (~(MP_OBJ_WORD_MSBIT_HIGH) >> (DIG_SIZE - 1))) {\n"
        "            // will overflow\n            return false;\n        }\n"
        "        val = (val << DIG_SIZE) | *d;",
        "        if (val > (~(MP_OBJ_WORD_MSBIT_HIGH) >> (DIG_SIZE - 1))) {\n"
        "            // will overflow\n            return false;\n        }\n"
        "        val = (mp_uint_t)((mpz_dbl_dig_t)val << DIG_SIZE) | *d;",
    ),
]
EDITS.append(
    (
        "../../py/mpz.c",
        "    if (i->neg != 0) {\n        val = -val;\n    }\n\n    *value = val;\n    return true;",
        "    if (val & MP_OBJ_WORD_MSBIT_HIGH) {\n        // one 32-bit digit may not fit\n"
        "        return false;\n    }\n\n"
        "    if (i->neg != 0) {\n        val = -val;\n    }\n\n    *value = val;\n    return true;",
    )
)
EDITS.append(
    (
        "main.c",
        "#define PYTHON_HEAP_SIZE (1024 * 1024)",
        "#ifndef PYTHON_HEAP_SIZE\n#define PYTHON_HEAP_SIZE (1024 * 1024)\n#endif",
    )
)
# The port's own flags: nearc builds the native mpy-cross with the same environment, and gcc
# refuses emscripten's settings, so a contract's extra flags reach only the port's emcc.
EDITS.append(
    (
        "Makefile",
        'LDFLAGS += -sEXPORTED_FUNCTIONS="$(EXPORTED_FUNCTIONS)"\n',
        'LDFLAGS += -sEXPORTED_FUNCTIONS="$(EXPORTED_FUNCTIONS)"\n'
        "CFLAGS += $(OUTLAYER_PORT_CFLAGS)\nLDFLAGS += $(OUTLAYER_PORT_LDFLAGS)\n",
    )
)
# The build environment of a contract with 32-bit big-integer digits (C and frozen constants).
# Its heap is 16 MiB (in 32 MiB of memory; NEAR allows 64): MicroPython's garbage collector
# faults on this port, so a call must never fill its heap, and 300 Tgas of big-integer
# arithmetic allocates ~4 MiB.
MPZ32_ENV = (
    ("OUTLAYER_PORT_CFLAGS", "-DMPZ_DIG_SIZE=32 -DPYTHON_HEAP_SIZE=16777216"),
    ("OUTLAYER_PORT_LDFLAGS", "-sINITIAL_MEMORY=33554432"),
    ("MPY_TOOL_FLAGS", "-mmpz-dig-size 32"),
)


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
