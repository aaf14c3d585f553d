"""Real repositories, per language: the cold build (fetch phase + sandboxed build) and the cached
build (the same source asked again) of each example, through the compiler with the dev stack's
configuration (the development crate registry; npm for AssemblyScript).

For each language the first cold build is reported apart: Rust's also builds std for the
crate's release profile (once per compiler and profile), and a first fetch fills the package
cache. The second cold build (a new commit of the same files) shows what a new version of a
repository costs; its fetch phase is served from the package cache.

    python -m bench.real_repositories
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from bench._common import timed
from devtools.crate_mirror import start_debian_mirror
from devtools.gitserver import GitServer, folder_files
from devtools.guestbuild import REPO_ROOT
from outlayer.config import load_settings
from services.compiler.builder import READY, Compiler
from tests.compiler_fixture import compiler_settings

EXAMPLES = REPO_ROOT / "examples" / "guests"
CASES = [
    ("Rust + serde/serde_json/sha2/hex", "rust/serde-echo"),
    ("C++ (CMake, libc++)", "cpp/word-count"),
    ("Go (std)", "go/echo-json"),
    ("AssemblyScript (npm)", "assemblyscript/echo-json"),
    ("C (one file)", "c"),
]
HITS = 200


def main() -> None:
    mirror = start_debian_mirror()
    base = load_settings(tls={"enabled": False})
    print("== Real repositories: cold builds (fetch + build) and cached builds ==")
    print(f"  {'example':34} {'first cold':>11} {'fetch':>7} {'2nd cold':>9} {'fetch':>7} "
          f"{'cached':>9} {'cold/cached':>12}")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        git = GitServer(root / "git").start()
        registries = base.compiler.registries.model_copy(update={"crates": mirror.index_url})
        settings = compiler_settings(
            base, root / "compiler", [git.url], registries=registries,
            allow_lock_reresolution=True, package_cache_dir=root / "packages",
        )  # fmt: skip
        compiler = Compiler(settings.compiler)
        for label, example in CASES:
            files = folder_files(EXAMPLES / example, with_wasm=True)
            if example == "c":
                files = {"echo_json.c": files["echo_json.c"]}
            runs = []
            for round_ in range(2):
                commit = git.publish("bench", example.replace("/", "-"),
                                     {**files, "ROUND": str(round_)})  # fmt: skip
                repo = f"{git.url}/bench/{example.replace('/', '-')}"
                began = time.perf_counter()
                outcome = compiler.compile(repo, commit, wait_seconds=None)
                seconds = time.perf_counter() - began
                assert outcome.status == READY and outcome.entry is not None, (
                    outcome.failure and outcome.failure.hidden_log[-2000:]
                )
                runs.append((seconds, float(outcome.entry.build.get("fetch_seconds", 0.0))))
            hits = timed(lambda: compiler.compile(repo, commit), HITS)  # noqa: B023
            cached = statistics.median(hits)
            (first, first_fetch), (second, second_fetch) = runs
            ratio = second / cached
            print(f"  {label:34} {first:9.2f} s {first_fetch:5.2f} s {second:7.2f} s "
                  f"{second_fetch:5.2f} s {cached * 1000:7.2f} ms {ratio:11,.0f}x")  # fmt: skip
        compiler.close()
        git.stop()
    mirror.stop()


if __name__ == "__main__":
    main()
