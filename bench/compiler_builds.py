"""The compiler: cold build time of the example guests in each sandbox, and the time to answer
a cache hit (in process, and over gRPC as the coordinator asks).

Each cold build starts from an empty cache (a new commit of the same files is a new source);
the figures include fetching from a loopback git server. Ratios compare against the bare
toolchain run on the host without a sandbox, for the C guest. The first Rust build also builds
std for the crate's release profile (once per compiler and profile); later ones reuse it.
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import grpc

from bench._common import summary, timed
from devtools.gitserver import GitServer, folder_files
from devtools.guestbuild import REPO_ROOT
from outlayer.config import load_settings
from outlayer.v1 import compiler_pb2, compiler_pb2_grpc
from services.compiler.builder import READY, Compiler
from tests.compiler_fixture import compiler_settings, running_compiler

C_SOURCE = REPO_ROOT / "examples" / "guests" / "c" / "echo_json.c"
RUST_CRATE = REPO_ROOT / "examples" / "guests" / "rust" / "echo-json"
C_ROUNDS = 5
HITS = 2000


def cold_builds(compiler: Compiler, git: GitServer, name: str, files: dict[str, str | bytes],
                rounds: int) -> list[float]:  # fmt: skip
    samples = []
    for round_ in range(rounds):
        # A new commit (same sources plus a marker file) is a new cache key: a cold build.
        commit = git.publish("bench", name, {**files, "ROUND": str(round_)})
        began = time.perf_counter()
        outcome = compiler.compile(f"{git.url}/bench/{name}", commit, wait_seconds=None)
        samples.append(time.perf_counter() - began)
        assert outcome.status == READY, outcome.failure and outcome.failure.hidden_log
    return samples


def bare_c_build() -> list[float]:
    with tempfile.TemporaryDirectory() as out:
        command = ["clang-16", "--target=wasm32-wasi", "-O2", "-o", f"{out}/x.wasm", str(C_SOURCE)]
        return timed(lambda: subprocess.run(command, check=True), C_ROUNDS)


def main() -> None:
    settings = load_settings(tls={"enabled": False})
    bare = statistics.median(bare_c_build())
    print("== Compiler: cold builds (fetch from loopback git + sandboxed build + cache) ==")
    print(f"  bare clang on the host (no sandbox, no fetch)   {bare * 1000:8.1f} ms")
    with tempfile.TemporaryDirectory() as root_dir:
        root = Path(root_dir)
        git = GitServer(root / "git").start()
        for sandbox in ("docker", "bwrap"):
            configured = compiler_settings(settings, root / sandbox, [git.url], sandbox=sandbox)
            compiler = Compiler(configured.compiler)
            c = cold_builds(compiler, git, f"c-{sandbox}", {"echo_json.c": C_SOURCE.read_bytes()},
                            C_ROUNDS)  # fmt: skip
            c_median = statistics.median(c)
            print(f"  C echo_json, {sandbox:6}  {summary(c)}   {c_median / bare:5.1f}x bare clang")
            rust = cold_builds(compiler, git, f"rust-{sandbox}", folder_files(RUST_CRATE), 3)
            again = statistics.median(rust[1:])
            print(
                f"  Rust echo-json, {sandbox:6} first {rust[0]:6.1f} s (builds std for its "
                f"profile), then p50 {again:5.2f} s with that std ({rust[0] / again:.0f}x)"
            )
            compiler.close()

        print("== Compiler: answering a cache hit ==")
        commit = git.publish("bench", "hit", {"echo_json.c": C_SOURCE.read_bytes()})
        repo = f"{git.url}/bench/hit"
        with running_compiler(settings, root / "service", allowed_hosts=[git.url]) as (
            address,
            compiler,
        ):
            compiler.compile(repo, commit, wait_seconds=None)
            in_process = timed(lambda: compiler.compile(repo, commit, for_execution=True), HITS)
            stub = compiler_pb2_grpc.CompilerServiceStub(grpc.insecure_channel(address))
            request = compiler_pb2.CompileRequest(
                source=compiler_pb2.SourceRef(repo=repo, commit=commit), for_execution=True
            )
            over_grpc = timed(lambda: stub.Compile(request), HITS)
        print(f"  in process (lookup + use count)  {summary(in_process)}")
        print(f"  over gRPC (the coordinator)      {summary(over_grpc)}")
        cold_c = statistics.median(c)
        print(f"  a hit answers {cold_c / statistics.median(over_grpc):,.0f}x faster than a cold "
              "C build")  # fmt: skip
        git.stop()


if __name__ == "__main__":
    main()
