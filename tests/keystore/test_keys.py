"""Key derivation and the encryption scheme of the keystore."""

from __future__ import annotations

from pathlib import Path

import nacl.signing
import pytest

from outlayer.errors import OutlayerError
from outlayer.platform_env import RESERVED, guest_env
from outlayer.repos import normalize_repo
from outlayer.v1 import coordinator_pb2 as pb
from outlayer.v1.execution_pb2 import ResourceLimits
from services.keystore.keys import (
    decrypt_secrets,
    development_master,
    encrypt_secrets,
    repo_private_key,
    signed_public_key,
)

MASTER = bytes(range(32))
REPO = "https://github.com/alice/bot"


def test_keys_are_per_repository_and_branch_and_deterministic() -> None:
    base = bytes(repo_private_key(MASTER, REPO))
    assert bytes(repo_private_key(MASTER, REPO)) == base
    others = {
        bytes(repo_private_key(MASTER, REPO, "main")),
        bytes(repo_private_key(MASTER, REPO + "2")),
        bytes(repo_private_key(bytes(32), REPO)),
    }
    assert base not in others and len(others) == 3


def test_round_trip_and_only_the_repository_key_decrypts() -> None:
    public = bytes(repo_private_key(MASTER, REPO).public_key)
    blob = encrypt_secrets(public, {"API_KEY": "s3cr3t", "OTHER": "x"})
    assert "s3cr3t" not in blob
    assert decrypt_secrets(repo_private_key(MASTER, REPO), blob) == {
        "API_KEY": "s3cr3t",
        "OTHER": "x",
    }
    with pytest.raises(OutlayerError, match="cannot be decrypted"):
        decrypt_secrets(repo_private_key(MASTER, REPO, "main"), blob)
    tampered = blob[:20] + ("A" if blob[20] != "A" else "B") + blob[21:]
    with pytest.raises(OutlayerError, match="cannot be decrypted"):
        decrypt_secrets(repo_private_key(MASTER, REPO), tampered)


@pytest.mark.parametrize("name", ["BAD NAME", "", "A=B", "1ST", "x-y", "N\0UL", "é", "FOO\n"])
def test_a_name_that_is_no_environment_variable_is_refused(name: str) -> None:
    public = bytes(repo_private_key(MASTER, REPO).public_key)
    with pytest.raises(OutlayerError, match="not an environment variable name"):
        encrypt_secrets(public, {name: "x"})
    with pytest.raises(OutlayerError, match="NUL byte"):
        encrypt_secrets(public, {"GOOD": "a\0b"})
    assert encrypt_secrets(public, {"_Fine_2": "x"})


@pytest.mark.parametrize("name", sorted(RESERVED))
def test_reserved_platform_variables_cannot_be_secrets(name: str) -> None:
    public = bytes(repo_private_key(MASTER, REPO).public_key)
    with pytest.raises(OutlayerError, match="set by the platform"):
        encrypt_secrets(public, {name: "spoofed"})


def test_the_platform_sets_exactly_the_reserved_variables_for_either_origin() -> None:
    near = pb.JobOrigin(near=pb.NearRequest(contract_id="outlayer.test", request_id=1))
    https = pb.JobOrigin(https=pb.HttpsCall(call_id="c1", sender_id="bob.test"))
    for origin in (near, https, pb.JobOrigin()):
        assert set(guest_env(origin, ResourceLimits())) == RESERVED


def test_public_keys_are_signed_by_the_keystore_identity() -> None:
    answer = signed_public_key(MASTER, REPO, "main")
    assert answer["public_key"] == bytes(repo_private_key(MASTER, REPO, "main").public_key).hex()
    verify_key = nacl.signing.VerifyKey(bytes.fromhex(answer["identity"]))
    import json

    statement = json.dumps({"repo": REPO, "branch": "main", "public_key": answer["public_key"]},
                           sort_keys=True).encode()  # fmt: skip
    verify_key.verify(statement, bytes.fromhex(answer["signature"]))


def test_development_master_is_created_once_and_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "master.key"
    first = development_master(path)
    assert development_master(path) == first and len(first) == 32
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert "NOT protected by TDX" in capsys.readouterr().err


def test_every_spelling_of_a_repository_has_the_same_key() -> None:
    spellings = [
        "https://github.com/Alice/Bot",
        "https://github.com/alice/bot.git",
        " https://github.com/alice/bot/ ",
        "HTTPS://GITHUB.COM/ALICE/BOT.GIT//",
    ]
    base = bytes(repo_private_key(MASTER, REPO))
    assert {bytes(repo_private_key(MASTER, spelt)) for spelt in spellings} == {base}
    assert bytes(repo_private_key(MASTER, REPO + ".github")) != base
    # The signed answer names the repository as normalised.
    assert signed_public_key(MASTER, "https://github.com/Alice/Bot.git")["repo"] == REPO


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("https://github.com/A/B", "https://github.com/a/b"),
        ("https://github.com/a/b.git/", "https://github.com/a/b"),
        ("  https://github.com/a/b//\n", "https://github.com/a/b"),
        ("https://github.com/a/b.git.git", "https://github.com/a/b.git"),  # one suffix only
        ("https://github.com/a/b.git/x", "https://github.com/a/b.git/x"),
        ("https://github.com/a/b/.git", "https://github.com/a/b/"),  # "/" first, then ".git"
    ],
)
def test_the_normalisation_rule(given: str, normalised: str) -> None:
    assert normalize_repo(given) == normalised
