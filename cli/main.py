"""``outlayer``: one command for every service and tool.

Exit codes: 0 success, 1 the execution (or the checked thing) failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cli import (
    attestation_cmd,
    compiler_cmd,
    coordinator_cmd,
    dev_cmd,
    earnings_cmd,
    edge_cmd,
    executor_cmd,
    indexer_cmd,
    key_cmd,
    keystore_cmd,
    localnet_cmd,
    project_cmd,
    run_cmd,
    secrets_cmd,
    vrf_cmd,
)
from outlayer.errors import OutlayerError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="outlayer",
        description="OutLayer: verifiable off-chain computation for NEAR smart contracts.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run_cmd.register(commands)
    executor_cmd.register(commands)
    coordinator_cmd.register(commands)
    indexer_cmd.register(commands)
    keystore_cmd.register(commands)
    compiler_cmd.register(commands)
    edge_cmd.register(commands)
    localnet_cmd.register(commands)
    dev_cmd.register(commands)
    attestation_cmd.register(commands)
    secrets_cmd.register(commands)
    project_cmd.register(commands)
    key_cmd.register(commands)
    earnings_cmd.register(commands)
    vrf_cmd.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except OutlayerError as exc:
        print(f"outlayer {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return code


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
