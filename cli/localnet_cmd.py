"""``outlayer localnet serve`` and ``outlayer localnet demo``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cli.signals import stop_on_signals

DEFAULT_STATE_DIR = Path.home() / ".outlayer" / "localnet"


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "localnet", help="a NEAR-compatible chain on this machine"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="serve NEAR JSON-RPC over an in-memory chain")
    serve.add_argument("--listen", default="127.0.0.1:3030", metavar="HOST:PORT")
    serve.add_argument("--block-time", type=float, default=0.5, metavar="SECONDS")
    serve.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, metavar="DIR",
                       help="where the root account's key file is kept")  # fmt: skip
    serve.set_defaults(handler=serve_command)
    demo = actions.add_parser(
        "demo", help="deploy the OutLayer contract and run one request end to end"
    )
    demo.add_argument("--rpc", default="http://127.0.0.1:3030", metavar="URL")
    demo.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, metavar="DIR")
    demo.add_argument("--input", default='{"name": "NEAR"}', help="the request's input_data")
    demo.set_defaults(handler=demo_command)


def serve_command(args: argparse.Namespace) -> int:
    from localnet.genesis import new_chain
    from localnet.rpc import LocalnetNode, make_server
    from outlayer.errors import invalid_argument

    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        raise invalid_argument(f"--listen {args.listen!r} is not HOST:PORT")
    key_file = args.state_dir / "root.json"
    chain, root = new_chain(key_file, wall_clock=True)  # blocks in real time, as NEAR's
    node = LocalnetNode(chain, block_time_s=args.block_time)
    try:
        server = make_server(node, host, int(port))
    except OSError as exc:
        raise invalid_argument(f"cannot listen on {args.listen}: {exc.strerror}") from None
    node.start()
    url = f"http://{host}:{server.server_address[1]}"
    print(f"localnet: NEAR JSON-RPC on {url} (chain id localnet)", flush=True)
    print(f"localnet: root account {root.account_id}, key in {key_file}", flush=True)
    print(f"localnet: try  outlayer localnet demo --rpc {url}", flush=True)
    stop_on_signals(server.shutdown)
    server.serve_forever()
    node.stop()
    return 0


def demo_command(args: argparse.Namespace) -> int:
    from devstack.demo import run_demo
    from outlayer.config import load_settings

    result = run_demo(
        args.rpc, args.state_dir / "root.json", args.input, load_settings(), log=_progress
    )
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0 if result.get("status") == "success" else 1


def _progress(message: str) -> None:
    print(f"demo: {message}", file=sys.stderr, flush=True)
