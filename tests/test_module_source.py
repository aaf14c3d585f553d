"""Where an executor gets a module it lacks: the compiler's NOT_FOUND means the platform does
not hold it (the job ends module_not_found, uncharged); any other failure is no answer about
the module, and the job is given back for another attempt."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from outlayer.errors import OutlayerError
from outlayer.v1 import compiler_pb2
from outlayer.wasmstore import WasmStore
from services.executor.modules import ModuleSource

MODULE = b"\0asm\1\0\0\0"
CHECKSUM = hashlib.sha256(MODULE).hexdigest()


class _Refusal(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        super().__init__(code.name)
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code


class _Compiler:
    """The compiler as an executor's stub sees it: each GetModule answers ``answer``."""

    def __init__(self, answer: bytes | grpc.StatusCode) -> None:
        self.answer = answer
        self.asked = 0

    def GetModule(  # noqa: N802 (the RPC's name)
        self, request: compiler_pb2.GetModuleRequest, timeout: float
    ) -> Iterator[compiler_pb2.ModuleChunk]:
        self.asked += 1
        if isinstance(self.answer, grpc.StatusCode):
            raise _Refusal(self.answer)
        return iter([compiler_pb2.ModuleChunk(data=self.answer)])


def _source(tmp_path: Path, compiler: _Compiler) -> ModuleSource:
    return ModuleSource(WasmStore(tmp_path / "store"), compiler)  # type: ignore[arg-type]


def test_a_module_the_compiler_holds_is_fetched_once_and_kept(tmp_path: Path) -> None:
    compiler = _Compiler(MODULE)
    source = _source(tmp_path, compiler)
    assert source.get(CHECKSUM) == MODULE
    assert source.get(CHECKSUM) == MODULE and compiler.asked == 1


def test_not_found_means_the_platform_does_not_hold_it(tmp_path: Path) -> None:
    assert _source(tmp_path, _Compiler(grpc.StatusCode.NOT_FOUND)).get(CHECKSUM) is None


@pytest.mark.parametrize(
    "answer", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, b"\0asm other"]
)
def test_a_compiler_that_cannot_say_is_no_answer(
    tmp_path: Path, answer: bytes | grpc.StatusCode
) -> None:
    source = _source(tmp_path, _Compiler(answer))
    with pytest.raises(OutlayerError) as raised:
        source.get(CHECKSUM)
    assert CHECKSUM in raised.value.message
    assert WasmStore(tmp_path / "store").get(CHECKSUM) is None  # nothing wrong was kept
