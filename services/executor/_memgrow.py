"""Routes every ``memory.grow`` of a module through a function that records refusals.

Wasmtime's store limit makes a ``memory.grow`` past ``max_memory_mb`` return -1, and tells the
embedder nothing (wasmtime-py exposes no resource-limiter callback). So, at load time, each
``memory.grow`` instruction becomes a ``call`` to one function appended to the module:

    (func $grow (param $delta i32) (result i32) (local $got i32)
      (local.tee $got (memory.grow (local.get $delta)))
      (if (i32.eq (i32.const -1))
        (then (global.set $refused                     ;; the largest size asked for
          (max $refused (i64.add (i64.extend_i32_u (memory.size))
                                 (i64.extend_i32_u (local.get $delta)))))))
      (local.get $got))

and a new exported i64 global holds the largest size in pages a refused grow asked for. The
host compares it with the limit after the run: an exact signal, whatever the step.

Everything is appended (a type, a function, a global, an export), so no existing index moves.
The input must already be valid (``wasmtime.Module.validate``): only function bodies that may
hold the instruction are decoded, with every opcode of the features the engine enables.
"""

from __future__ import annotations

from dataclasses import dataclass

REFUSED_GROW_EXPORT = "__outlayer_refused_grow_pages"

_SEC_TYPE, _SEC_IMPORT, _SEC_FUNCTION = 1, 2, 3
_SEC_GLOBAL, _SEC_EXPORT, _SEC_CODE = 6, 7, 10
_OP_MEMORY_GROW, _OP_CALL = 0x40, 0x10


class UnsupportedInstruction(Exception):
    """A valid module uses an instruction this rewriter does not decode."""


@dataclass
class _Section:
    id: int
    payload: bytes


def _leb_u(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _skip_leb(data: bytes, pos: int) -> int:
    while data[pos] & 0x80:
        pos += 1
    return pos + 1


def _enc_u(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _vec(items: list[bytes]) -> bytes:
    return _enc_u(len(items)) + b"".join(items)


def _name(text: str) -> bytes:
    raw = text.encode()
    return _enc_u(len(raw)) + raw


# Immediates of the one-byte opcodes (MVP, sign extension, reference types, tail calls).
_NONE, _U32, _U32X2, _MEMARG, _BLOCK, _BR_TABLE, _I32, _I64, _F32, _F64, _SELECT_T = range(11)
_IMMEDIATES: dict[int, int] = {0x00: _NONE, 0x01: _NONE, 0x05: _NONE, 0x0B: _NONE, 0x0F: _NONE}
_IMMEDIATES.update({0x02: _BLOCK, 0x03: _BLOCK, 0x04: _BLOCK})
_IMMEDIATES.update({0x0C: _U32, 0x0D: _U32, 0x0E: _BR_TABLE, 0x10: _U32, 0x12: _U32})
_IMMEDIATES.update({0x11: _U32X2, 0x13: _U32X2, 0x1A: _NONE, 0x1B: _NONE, 0x1C: _SELECT_T})
_IMMEDIATES.update({op: _U32 for op in range(0x20, 0x27)})  # locals, globals, table.get/set
_IMMEDIATES.update({op: _MEMARG for op in range(0x28, 0x3F)})  # loads and stores
_IMMEDIATES.update({0x3F: _U32, 0x40: _U32, 0x41: _I32, 0x42: _I64, 0x43: _F32, 0x44: _F64})
_IMMEDIATES.update({op: _NONE for op in range(0x45, 0xC5)})  # numeric
_IMMEDIATES.update({0xD0: _I64, 0xD1: _NONE, 0xD2: _U32})  # ref.null's heap type is an s33
# 0xFC sub-opcodes: saturating truncation, bulk memory, tables.
_FC_IMMEDIATES = {op: _NONE for op in range(8)}
_FC_IMMEDIATES.update({8: _U32X2, 9: _U32, 10: _U32X2, 11: _U32, 12: _U32X2, 13: _U32})
_FC_IMMEDIATES.update({14: _U32X2, 15: _U32, 16: _U32, 17: _U32})
_BLOCK_SINGLE_BYTES = frozenset({0x40, 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F})


def _skip_simd(code: bytes, pos: int) -> int:
    sub, pos = _leb_u(code, pos)
    if sub <= 11 or sub in (92, 93):  # loads, stores, load-zero: a memarg
        return _skip_memarg(code, pos)
    if sub in (12, 13):  # v128.const, i8x16.shuffle
        return pos + 16
    if 21 <= sub <= 34:  # lane extract/replace
        return pos + 1
    if 84 <= sub <= 91:  # lane loads/stores: memarg + lane
        return _skip_memarg(code, pos) + 1
    if sub <= 0x113:  # everything else, relaxed SIMD included, has no immediate
        return pos
    raise UnsupportedInstruction(f"0xfd {sub}")


def _skip_memarg(code: bytes, pos: int) -> int:
    align, pos = _leb_u(code, pos)
    if align & 0x40:  # multi-memory: an explicit memory index follows
        pos = _skip_leb(code, pos)
    return _skip_leb(code, pos)


def _rewrite_body(body: bytes, call: bytes) -> bytes:
    """One function body (locals + expression) with each memory.grow replaced by ``call``."""
    count, pos = _leb_u(body, 0)
    for _ in range(count):
        pos = _skip_leb(body, pos)  # how many
        pos += 1  # their value type (single byte without typed function references)
    out = bytearray(body[:pos])
    start = pos
    end = len(body)
    while pos < end:
        op = body[pos]
        at = pos
        pos += 1
        if op == 0xFC:
            sub, pos = _leb_u(body, pos)
            kind = _FC_IMMEDIATES.get(sub)
            if kind is None:
                raise UnsupportedInstruction(f"0xfc {sub}")
        elif op == 0xFD:
            pos = _skip_simd(body, pos)
            continue
        else:
            kind = _IMMEDIATES.get(op)
            if kind is None:
                raise UnsupportedInstruction(f"0x{op:02x}")
        if op == _OP_MEMORY_GROW:
            out += body[start:at]
            pos = _skip_leb(body, pos)
            out += call
            start = pos
            continue
        if kind == _NONE:
            pass
        elif kind in (_U32, _I32, _I64):
            pos = _skip_leb(body, pos)
        elif kind == _U32X2:
            pos = _skip_leb(body, _skip_leb(body, pos))
        elif kind == _MEMARG:
            pos = _skip_memarg(body, pos)
        elif kind == _BLOCK:
            pos = pos + 1 if body[pos] in _BLOCK_SINGLE_BYTES else _skip_leb(body, pos)
        elif kind == _BR_TABLE:
            targets, pos = _leb_u(body, pos)
            for _ in range(targets + 1):
                pos = _skip_leb(body, pos)
        elif kind == _F32:
            pos += 4
        elif kind == _F64:
            pos += 8
        elif kind == _SELECT_T:
            types, pos = _leb_u(body, pos)
            pos += types
    out += body[start:]
    return bytes(out)


def _may_grow(body: bytes) -> bool:
    # memory.grow is 0x40 then memory index 0 (0x00, or a padded LEB 0x80 ...). Most bodies have
    # neither pair and are copied without decoding.
    return b"\x40\x00" in body or b"\x40\x80" in body


def _sections(wasm: bytes) -> list[_Section]:
    sections = []
    pos = 8
    while pos < len(wasm):
        section_id = wasm[pos]
        size, pos = _leb_u(wasm, pos + 1)
        sections.append(_Section(section_id, wasm[pos : pos + size]))
        pos += size
    return sections


def _count_imports(payload: bytes) -> tuple[int, int]:
    """(functions, globals) among the imports."""
    count, pos = _leb_u(payload, 0)
    functions = globals_ = 0
    for _ in range(count):
        for _name_part in range(2):
            length, pos = _leb_u(payload, pos)
            pos += length
        kind = payload[pos]
        pos += 1
        if kind == 0x00:  # function: type index
            functions += 1
            pos = _skip_leb(payload, pos)
        elif kind == 0x01:  # table: reference type, limits
            pos = _skip_limits(payload, pos + 1)
        elif kind == 0x02:  # memory: limits
            pos = _skip_limits(payload, pos)
        elif kind == 0x03:  # global: value type, mutability
            globals_ += 1
            pos += 2
        else:  # tag: attribute, type index
            pos = _skip_leb(payload, pos + 1)
    return functions, globals_


def _skip_limits(payload: bytes, pos: int) -> int:
    flags = payload[pos]
    pos = _skip_leb(payload, pos + 1)
    return _skip_leb(payload, pos) if flags & 0x01 else pos


def _append_to_vector(payload: bytes, item: bytes) -> tuple[bytes, int]:
    """The vector with ``item`` appended, and the index it got."""
    count, pos = _leb_u(payload, 0) if payload else (0, 0)
    return _enc_u(count + 1) + payload[pos:] + item, count


def _export_names(payload: bytes) -> set[str]:
    count, pos = _leb_u(payload, 0)
    names = set()
    for _ in range(count):
        length, pos = _leb_u(payload, pos)
        names.add(payload[pos : pos + length].decode("utf-8", errors="replace"))
        pos = _skip_leb(payload, pos + length + 1)
    return names


def route_memory_grow(wasm: bytes) -> bytes:
    """The module with every memory.grow recording refusals (see the module docstring); the
    bytes unchanged when it has no memory.grow. ``wasm`` must be a valid module."""
    sections = _sections(wasm)
    by_id = {section.id: section for section in sections if section.id != 0}
    code = by_id.get(_SEC_CODE)
    if code is None or not _may_grow(code.payload):
        return wasm
    imported_functions, imported_globals = (
        _count_imports(by_id[_SEC_IMPORT].payload) if _SEC_IMPORT in by_id else (0, 0)
    )
    functions = by_id[_SEC_FUNCTION]
    defined_functions, _ = _leb_u(functions.payload, 0)
    grow_index = imported_functions + defined_functions
    call = bytes([_OP_CALL]) + _enc_u(grow_index)

    count, pos = _leb_u(code.payload, 0)
    bodies: list[bytes] = []
    changed = False
    for _ in range(count):
        size, pos = _leb_u(code.payload, pos)
        body = code.payload[pos : pos + size]
        pos += size
        if _may_grow(body):
            rewritten = _rewrite_body(body, call)
            changed = changed or rewritten != body
            body = rewritten
        bodies.append(_enc_u(len(body)) + body)
    if not changed:
        return wasm

    types = by_id[_SEC_TYPE]
    types.payload, type_index = _append_to_vector(types.payload, b"\x60\x01\x7f\x01\x7f")
    functions.payload, _ = _append_to_vector(functions.payload, _enc_u(type_index))
    globals_section = by_id.get(_SEC_GLOBAL)
    exports = by_id[_SEC_EXPORT]  # a runnable module exports _start
    if globals_section is None:  # goes just before the export section
        globals_section = _Section(_SEC_GLOBAL, b"")
        sections.insert(sections.index(exports), globals_section)
    # (global (mut i64) (i64.const 0))
    globals_section.payload, defined_globals = _append_to_vector(
        globals_section.payload, b"\x7e\x01\x42\x00\x0b"
    )
    refused = _enc_u(imported_globals + defined_globals)
    if REFUSED_GROW_EXPORT in _export_names(exports.payload):
        raise UnsupportedInstruction(f"an export named {REFUSED_GROW_EXPORT}")
    exports.payload, _ = _append_to_vector(
        exports.payload, _name(REFUSED_GROW_EXPORT) + b"\x03" + refused
    )
    grow_body = _grow_function(refused)
    bodies.append(_enc_u(len(grow_body)) + grow_body)
    code.payload = _vec(bodies)
    return _assemble(sections)


def _grow_function(refused: bytes) -> bytes:
    get_refused = b"\x23" + refused
    request = b"\x3f\x00\xad\x20\x00\xad\x7c"  # memory.size + delta, both as unsigned i64
    return (
        b"\x01\x01\x7f"  # locals: one i32, what memory.grow returned
        b"\x20\x00\x40\x00\x22\x01"  # local.get 0; memory.grow 0; local.tee 1
        b"\x41\x7f\x46\x04\x40"  # i32.const -1; i32.eq; if (no result)
        + request  # select's first operand: the request
        + get_refused  # its second: the largest refused so far
        + request
        + get_refused
        + b"\x56"  # i64.gt_u: request > stored
        + b"\x1b"  # select
        + b"\x24"
        + refused  # global.set
        + b"\x0b"  # end if
        b"\x20\x01\x0b"  # local.get 1; end
    )


def _assemble(sections: list[_Section]) -> bytes:
    out = bytearray(b"\0asm\x01\0\0\0")
    for section in sections:
        out.append(section.id)
        out += _enc_u(len(section.payload))
        out += section.payload
    return bytes(out)
