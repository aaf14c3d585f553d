"""A git server on loopback (git's smart HTTP, through ``git http-backend``).

The development stack serves its example repositories with it, and the tests build from it: the
compiler fetches over the same protocol it uses with GitHub, and nothing reaches the internet.
Repositories live at ``<root>/<owner>/<name>`` (bare); ``private`` ones answer 401 like a private
GitHub repository does to a client without credentials.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

_AUTHOR = {
    "GIT_AUTHOR_NAME": "OutLayer Examples",
    "GIT_AUTHOR_EMAIL": "examples@outlayer.invalid",
    "GIT_COMMITTER_NAME": "OutLayer Examples",
    "GIT_COMMITTER_EMAIL": "examples@outlayer.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


class GitServer:
    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = root
        self.private: set[str] = set()
        root.mkdir(parents=True, exist_ok=True)
        server = self

        class Handler(_GitHandler):
            git_server = server

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> GitServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def publish(
        self, owner: str, name: str, files: dict[str, str | bytes], branch: str = "main"
    ) -> str:
        """Commits exactly ``files`` as the new tip of ``branch``; returns the commit."""
        bare = self.root / owner / name
        if not bare.is_dir():
            bare.parent.mkdir(parents=True, exist_ok=True)
            _git(["init", "-q", "--bare", "-b", branch, str(bare)])
        env = {**os.environ, **_AUTHOR, "GIT_DIR": str(bare)}
        with tempfile.TemporaryDirectory() as tree:
            for path, content in files.items():
                target = Path(tree) / path
                target.parent.mkdir(parents=True, exist_ok=True)
                data = content.encode() if isinstance(content, str) else content
                target.write_bytes(data)
            index = Path(tree) / ".." / f".index-{os.getpid()}-{threading.get_ident()}"
            env["GIT_INDEX_FILE"] = str(index.resolve())
            env["GIT_WORK_TREE"] = tree
            try:
                _git(["add", "-A", "."], env, tree)
                parent = _git(["rev-parse", "-q", "--verify", f"refs/heads/{branch}"], env,
                              check=False).strip()  # fmt: skip
                tree_id = _git(["write-tree"], env).strip()
                parents = ["-p", parent] if parent else []
                commit = _git(["commit-tree", tree_id, *parents, "-m", f"publish {name}"],
                              env).strip()  # fmt: skip
                _git(["update-ref", f"refs/heads/{branch}", commit], env)
            finally:
                Path(env["GIT_INDEX_FILE"]).unlink(missing_ok=True)
        return commit

    def tag(self, owner: str, name: str, tag: str, commit: str, annotated: bool = True) -> None:
        env = {**os.environ, **_AUTHOR, "GIT_DIR": str(self.root / owner / name)}
        args = ["tag", "-a", "-m", tag, tag, commit] if annotated else ["tag", tag, commit]
        _git(args, env)


def folder_files(folder: Path, *, with_wasm: bool = False) -> dict[str, str | bytes]:
    """A source folder's files, to publish: without build outputs (``target/``,
    ``node_modules/``, and ``.wasm`` unless a repository commits one on purpose)."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and not {"target", "node_modules"} & set(path.parts)
        and (with_wasm or path.suffix != ".wasm")
    }


def _git(
    args: list[str], env: dict[str, str] | None = None, cwd: str | None = None, check: bool = True
) -> str:
    done = subprocess.run(["git", *args], env=env, cwd=cwd, capture_output=True, text=True,
                          check=False)  # fmt: skip
    if check and done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


class _GitHandler(BaseHTTPRequestHandler):
    git_server: GitServer

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self, method: str) -> None:
        path, _, query = self.path.partition("?")
        path = unquote(path)
        parts = path.strip("/").split("/")
        if len(parts) >= 2 and f"{parts[0]}/{parts[1]}" in self.git_server.private:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="private"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.git_server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": method,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        body = self._body() if method == "POST" else b""
        env["CONTENT_LENGTH"] = str(len(body))
        done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True,
                              check=False)  # fmt: skip
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = done.stdout.partition(b"\n\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                headers.append((key, value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
