"""``outlayer project create | version add | version activate | list | show | delete``: the
signer's projects in the OutLayer contract (``OWNER/NAME``, each version a code source or a
module's SHA-256)."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

from cli.chain_call import (
    Chain,
    Refused,
    account_argument,
    chain_arguments,
    near_text,
    near_units,
    output,
    refused_exits_1,
    storage_argument,
    storage_text,
    timestamp_text,
)
from outlayer.errors import invalid_argument

WASM_MAGIC = b"\0asm"  # every WebAssembly binary (module or component) starts with it


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "project",
        help="your projects in the OutLayer contract",
        description="Projects are OWNER/NAME; the signer of --key-file owns them and pays "
        "their storage (refunded by delete).",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="a project with its first version (active)")
    create.add_argument("name", help="1 to 64 of a-z 0-9 - _ . (starting with a letter/digit)")
    _source_arguments(create)
    chain_arguments(create)
    storage_argument(create)
    create.set_defaults(handler=create_command)

    version = actions.add_parser("version", help="add a version, or choose the active one")
    steps = version.add_subparsers(dest="step", required=True, metavar="STEP")
    add = steps.add_parser("add", help="a new version (active unless --no-activate)")
    add.add_argument("name")
    _source_arguments(add)
    add.add_argument("--no-activate", action="store_true", help="keep the active version")
    chain_arguments(add)
    storage_argument(add)
    add.set_defaults(handler=add_version_command)
    activate = steps.add_parser("activate", help="which version a call naming none runs")
    activate.add_argument("name")
    activate.add_argument("version", type=int)
    chain_arguments(activate)
    activate.set_defaults(handler=activate_command)

    listing = actions.add_parser("list", help="an account's projects")
    chain_arguments(listing, signs=False)
    account_argument(listing, "whose projects")
    listing.set_defaults(handler=list_command)
    show = actions.add_parser("show", help="a project and its versions")
    show.add_argument("project", help="NAME (yours) or OWNER/NAME")
    chain_arguments(show, signs=False)
    account_argument(show, "the owner of NAME")
    show.set_defaults(handler=show_command)
    delete = actions.add_parser("delete", help="delete a project and all its versions")
    delete.add_argument("name")
    chain_arguments(delete)
    delete.set_defaults(handler=delete_command)


def _source_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("the version's code (a repository, or a module)")
    group.add_argument("--repo", metavar="URL", help="https://github.com/OWNER/REPO")
    group.add_argument("--commit", metavar="SHA", help="with --repo: a 40-hex commit")
    group.add_argument("--branch", help="with --repo: a branch (built at its head)")
    group.add_argument("--tag", help="with --repo: a tag")
    group.add_argument("--build-target", metavar="TARGET", help="with --repo: the build target")
    group.add_argument("--wasm-sha256", metavar="HEX", help="instead of --repo: a module")
    group.add_argument("--wasm", type=Path, metavar="FILE",
                       help="instead of --repo: a module file (only its SHA-256 is sent: calls "
                       "run it once the platform holds it, e.g. built from a code "
                       "source)")  # fmt: skip


def version_source(args: argparse.Namespace) -> dict[str, Any]:
    """``{"code_source": ...}`` or ``{"wasm_sha256": ...}`` from the arguments."""
    given = [name for name in ("repo", "wasm_sha256", "wasm") if getattr(args, name)]
    if len(given) != 1:
        raise invalid_argument(
            "give the version's code: --repo URL with --commit, --branch or --tag; or "
            "--wasm-sha256 HEX; or --wasm FILE"
        )
    refs = {
        name: getattr(args, name) for name in ("commit", "branch", "tag") if getattr(args, name)
    }
    if args.repo is None:
        if refs or args.build_target:
            raise invalid_argument("--commit, --branch, --tag and --build-target go with --repo")
        if args.wasm is not None:
            try:
                module = args.wasm.read_bytes()
            except OSError as exc:
                raise invalid_argument(f"cannot read --wasm {args.wasm}: {exc.strerror}") from None
            if not module.startswith(WASM_MAGIC):
                raise invalid_argument(
                    f"--wasm {args.wasm} is not a WebAssembly module (it does not start with "
                    "\\0asm): give a .wasm file, or --repo for a code source"
                )
            return {"wasm_sha256": hashlib.sha256(module).hexdigest()}
        return {"wasm_sha256": args.wasm_sha256}
    if len(refs) != 1:
        raise invalid_argument("--repo needs exactly one of --commit, --branch and --tag")
    source: dict[str, Any] = {"repo": args.repo, **refs}
    if args.build_target:
        source["build_target"] = args.build_target
    return {"code_source": source}


def _source_text(version: dict[str, Any]) -> str:
    source = version.get("code_source")
    if source is None:
        return f"module sha256 {version.get('wasm_sha256')}"
    ref = next((f"{k} {source[k]}" for k in ("commit", "branch", "tag") if k in source), "")
    target = f" target {source['build_target']}" if source.get("build_target") else ""
    return f"{source['repo']} {ref}{target}"


@refused_exits_1
def create_command(args: argparse.Namespace) -> int:
    chain = Chain.from_args(args)
    body = {"name": args.name, **version_source(args)}
    result = chain.call("create_project", body, deposit=near_units(args.deposit_near)).value
    output(args, result, f"created project {result['project_id']}, version 1 active "
                         f"({storage_text(result)})")  # fmt: skip
    return 0


@refused_exits_1
def add_version_command(args: argparse.Namespace) -> int:
    chain = Chain.from_args(args)
    body = {"name": args.name, **version_source(args), "activate": not args.no_activate}
    result = chain.call("add_version", body, deposit=near_units(args.deposit_near)).value
    output(args, result, f"added version {result['version']} to {result['project_id']}; active: "
                         f"{result['active_version']} ({storage_text(result)})")  # fmt: skip
    return 0


@refused_exits_1
def activate_command(args: argparse.Namespace) -> int:
    chain = Chain.from_args(args)
    chain.call("set_active_version", {"name": args.name, "version": args.version})
    project_id = f"{chain.signer.account_id}/{args.name}"
    output(args, {"project_id": project_id, "active_version": args.version},
           f"{project_id} now runs version {args.version}")  # fmt: skip
    return 0


@refused_exits_1
def list_command(args: argparse.Namespace) -> int:
    chain = Chain.from_args(args)
    account = chain.account(args.account)
    projects = chain.view("list_user_projects", {"account_id": account})
    if args.json:
        output(args, projects, "")
        return 0
    if not projects:
        print(f"{account} has no projects (create one: outlayer project create NAME ...)")
    for project in projects:
        print(f"{project['project_id']}  version {project['active_version']} of "
              f"{project['versions']} active  "
              f"created {timestamp_text(project['created_at'])}")  # fmt: skip
    return 0


@refused_exits_1
def show_command(args: argparse.Namespace) -> int:
    chain = Chain.from_args(args)
    project_id = args.project
    if "/" not in project_id:
        project_id = f"{chain.account(args.account)}/{project_id}"
    project = chain.view("get_project", {"project_id": project_id})
    if project is None:
        raise Refused(f"no project {project_id} in {chain.contract}")
    project["version_list"] = chain.view("list_versions", {"project_id": project_id})
    if args.json:
        output(args, project, "")
        return 0
    print(f"{project_id}: version {project['active_version']} of {project['versions']} active, "
          f"created {timestamp_text(project['created_at'])}")  # fmt: skip
    for version in project["version_list"]:
        mark = "*" if version["version"] == project["active_version"] else " "
        print(f" {mark} {version['version']}: {_source_text(version)}  "
              f"(added {timestamp_text(version['created_at'])})")  # fmt: skip
    return 0


@refused_exits_1
def delete_command(args: argparse.Namespace) -> int:
    chain = Chain.from_args(args)
    result = chain.call("delete_project", {"name": args.name}).value
    project_id = f"{chain.signer.account_id}/{args.name}"
    refunded = near_text(result["refunded"])
    output(args, {"project_id": project_id, **result},
           f"deleted {project_id}; {refunded} of storage refunded")  # fmt: skip
    return 0
