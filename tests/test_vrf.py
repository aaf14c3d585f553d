"""ECVRF-EDWARDS25519-SHA512-TAI against RFC 9381's own examples (Appendix B.3, examples 16
and 17: secret keys from RFC 8032 section 7.1), and every way a proof can be wrong."""

from __future__ import annotations

import pytest

from outlayer import vrf

# (secret key, public key, alpha, pi, beta), as printed in RFC 9381 Appendix B.3.
RFC_9381_B3 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "8657106690b5526245a92b003bb079ccd1a92130477671f6fc01ad16f26f723f26f8a57ccaed74ee1b190bed1f"
        "479d9727d2d0f9b005a6e456a35d4fb0daab1268a1b0db10836d9826a528ca76567805",
        "90cf1df3b703cce59e2a35b925d411164068269d7b2d29f3301c03dd757876ff66b71dda49d2de59d03450451a"
        "f026798e8f81cd2e333de5cdf4f3e140fdd8ae",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "f3141cd382dc42909d19ec5110469e4feae18300e94f304590abdced48aed5933bf0864a62558b3ed7f2fea45c"
        "92a465301b3bbf5e3e54ddf2d935be3b67926da3ef39226bbc355bdc9850112c8f4b02",
        "eb4440665d3891d668e7e0fcaf587f1b4bd7fbfe99d0eb2211ccec90496310eb5e33821bc613efb94db5e5b54c"
        "70a848a0bef4553a41befc57663b56373a5031",
    ),
]


@pytest.mark.parametrize(("secret", "public", "alpha", "pi", "beta"), RFC_9381_B3)
def test_the_rfc_examples_prove_and_verify_byte_for_byte(
    secret: str, public: str, alpha: str, pi: str, beta: str
) -> None:
    key = bytes.fromhex(secret)
    assert vrf.public_key(key).hex() == public
    proof = vrf.prove(key, bytes.fromhex(alpha))
    assert proof.hex() == pi
    assert vrf.proof_to_hash(proof).hex() == beta
    assert vrf.verify(bytes.fromhex(public), bytes.fromhex(alpha), proof).hex() == beta


def test_a_changed_bit_anywhere_is_refused() -> None:
    _, public, alpha, pi, _ = RFC_9381_B3[1]
    proof, key, message = bytes.fromhex(pi), bytes.fromhex(public), bytes.fromhex(alpha)
    for position in (0, 31, 32, 47, 48, 79):  # in Gamma, in c, in s
        tampered = bytearray(proof)
        tampered[position] ^= 0x01
        with pytest.raises(vrf.InvalidProof):
            vrf.verify(key, message, bytes(tampered))
    with pytest.raises(vrf.InvalidProof):
        vrf.verify(key, b"another input", proof)
    other = vrf.public_key(bytes.fromhex(RFC_9381_B3[0][0]))
    with pytest.raises(vrf.InvalidProof):
        vrf.verify(other, message, proof)
    with pytest.raises(vrf.InvalidProof, match="80 bytes"):
        vrf.verify(key, message, proof[:79])
    with pytest.raises(vrf.InvalidProof, match="public key"):
        vrf.verify(bytes(32), message, proof)  # not a point of the subgroup
    big_s = proof[:48] + (2**255 - 1).to_bytes(32, "little")
    with pytest.raises(vrf.InvalidProof, match="group order"):
        vrf.verify(key, message, big_s)


def test_the_input_binds_the_request_and_the_seed_without_ambiguity() -> None:
    key = bytes.fromhex(RFC_9381_B3[0][0])
    outputs = {
        vrf.proof_to_hash(vrf.prove(key, vrf.alpha_for(origin, seed)))
        for origin, seed in [
            ("near:outlayer.near:1", b"dice"),
            ("near:outlayer.near:2", b"dice"),  # another request
            ("near:outlayer.near:1", b"dicf"),  # other seed material
            ("near:outlayer.near:1d", b"ice"),  # the same bytes, split elsewhere
            ("https:1", b"dice"),
        ]
    }
    assert len(outputs) == 5
    again = vrf.prove(key, vrf.alpha_for("near:outlayer.near:1", b"dice"))
    assert vrf.proof_to_hash(again) in outputs  # the same pair: the same output, always
