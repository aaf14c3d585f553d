"""``outlayer dev``: the whole stack on one machine; ``dev request``; ``dev certs``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cli.signals import stop_on_signals
from devstack.ports import Ports, port_number
from outlayer.config import load_settings

DEFAULT_DIR = Path.home() / ".outlayer" / "dev"


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "dev", help="run the whole stack on this machine (or: dev request, dev certs)"
    )
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, metavar="DIR",
                        help=f"the stack's folder (default {DEFAULT_DIR}); one stack per "
                        "folder")  # fmt: skip
    # Unset ports are the defaults for a new stack; `dev request`/`dev demo` take a running
    # stack's own ports from its folder (DIR/stack.json).
    for name, default in vars(Ports()).items():
        parser.add_argument(f"--{name}-port", type=port_number, metavar="PORT",
                            help=f"default {default}" + (
                                " (the development crate registry)" if name == "crates" else ""
                            ))  # fmt: skip
    parser.set_defaults(handler=up_command)
    actions = parser.add_subparsers(dest="action", required=False, metavar="ACTION")
    certs = actions.add_parser(
        "certs", help="create a development CA and a certificate per service (idempotent)"
    )
    certs.add_argument("--pki-dir", type=Path, metavar="DIR", help="default: the tls.dir setting")
    certs.set_defaults(handler=certs_command)
    request = actions.add_parser("request", help="make one on-chain request through the stack")
    request.add_argument("--input", default='{"name": "NEAR"}')
    request.add_argument("--secrets-profile", metavar="PROFILE",
                         help="give the guest alice's secrets of this profile")  # fmt: skip
    request.set_defaults(handler=request_command)
    demo = actions.add_parser("demo", help="one on-chain request and one HTTPS call; prints both")
    demo.add_argument("--input", default="hello")
    demo.set_defaults(handler=demo_command)


def up_command(args: argparse.Namespace) -> int:
    from devstack.stack import DevStack

    ports = Ports(**_ports_given(args))
    stack = DevStack(args.dir, ports, log=_say)
    stop = stop_on_signals()
    try:
        stack.up()
        _say("the stack is up:")
        _say(f"  NEAR JSON-RPC               {stack.rpc_url}  (contract outlayer.localnet)")
        _say(f"  coordinator (gRPC, mTLS)    127.0.0.1:{ports.coordinator}")
        _say(f"  executor (gRPC, mTLS)       127.0.0.1:{ports.executor}")
        _say(f"  keystore (attested TLS)     127.0.0.1:{ports.keystore}  (DEVELOPMENT: no TDX)")
        _say(f"  compiler (gRPC, mTLS)       127.0.0.1:{ports.compiler}  (Docker sandbox)")
        _say(f"  HTTPS edge (REST/JSON)      {stack.edge_url}  (OpenAPI: /openapi.json)")
        _say(f"  certificates                {args.dir / 'pki'}")
        extra = "" if args.dir == DEFAULT_DIR else f" --dir {args.dir}"
        _say("an HTTPS call, paid from the dev payment key:")
        _say(f"  {stack.curl_line()}")
        if stack.has_dashboard:
            _say(f"the dashboard (sign in with a key file from {args.dir / 'keys'}):")
            _say(f"  {stack.dashboard_url()}")
        else:
            _say("no dashboard: build it with scripts/setup.sh (npm run build in dashboard/)")
        _say(f"one on-chain request and one HTTPS call:  outlayer dev{extra} demo")
        _say("ready")
        return stack.watch(stop.is_set)
    finally:
        stack.down()


def request_command(args: argparse.Namespace) -> int:
    from devstack.stack import request

    ports = _running_ports(args)
    result = request(
        args.dir,
        f"http://127.0.0.1:{ports.localnet}",
        args.input,
        secrets_profile=args.secrets_profile,
        log=_say,
    )
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0 if isinstance(result, dict) and result.get("status") == "success" else 1


def demo_command(args: argparse.Namespace) -> int:
    from devstack.stack import https_call, request

    ports = _running_ports(args)
    on_chain = request(args.dir, f"http://127.0.0.1:{ports.localnet}", args.input, log=_say)
    over_https = https_call(args.dir, ports.edge, args.input, log=_say)
    json.dump({"on_chain": on_chain, "https": over_https}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    ok = (
        isinstance(on_chain, dict)
        and on_chain.get("status") == "success"
        and over_https.get("result", {}).get("status") == "success"
    )
    return 0 if ok else 1


def _ports_given(args: argparse.Namespace) -> dict[str, int]:
    given = {name: getattr(args, f"{name}_port") for name in vars(Ports())}
    return {name: port for name, port in given.items() if port is not None}


def _running_ports(args: argparse.Namespace) -> Ports:
    """The ports of the stack running on --dir (as it recorded them), with any given here."""
    from devstack.ports import recorded_ports

    return recorded_ports(args.dir, **_ports_given(args))


def certs_command(args: argparse.Namespace) -> int:
    from outlayer.tls import ensure_dev_pki

    directory = args.pki_dir or load_settings().tls.dir
    created = ensure_dev_pki(directory)
    what = ", ".join(created) if created else "nothing (all present)"
    print(f"outlayer dev certs: {directory}: created {what}", file=sys.stderr)
    print("outlayer dev certs: development only: the CA key is on this disk", file=sys.stderr)
    return 0


def _say(message: str) -> None:
    print(f"outlayer dev: {message}", file=sys.stderr, flush=True)
