//! Verifiable randomness: an ECVRF (RFC 9381) output for the job's request and a seed, proved
//! by the platform's keystore, so it cannot be re-rolled and anyone can check it
//! (`outlayer vrf verify --origin ORIGIN --seed HEX --proof HEX`).

use crate::codec::hex_decode;
use crate::json::Value;
use crate::{call_json, sys, Error, Result};

/// What [`random`] answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Randomness {
    /// 64 random bytes.
    pub output: Vec<u8>,
    /// The 80-byte VRF proof of `output`.
    pub proof: Vec<u8>,
    /// The prover's 32-byte public key.
    pub public_key: Vec<u8>,
    /// The job's request: `near:CONTRACT:REQUEST_ID` or `https:CALL_ID`.
    pub origin: String,
    /// The seed asked with.
    pub seed: Vec<u8>,
    /// `keystore`, or `local development key` under `outlayer run`.
    pub prover: String,
    /// The answer as the platform wrote it (JSON): handy to pass the proof on.
    pub json: String,
}

impl Randomness {
    /// The first 8 bytes of the output as a number.
    pub fn u64(&self) -> u64 {
        let mut first = [0u8; 8];
        first.copy_from_slice(&self.output[..8]);
        u64::from_le_bytes(first)
    }

    /// A number in `0..bound` (bound > 0), with negligible bias for small bounds.
    pub fn below(&self, bound: u64) -> u64 {
        self.u64() % bound.max(1)
    }
}

/// Randomness for this request and `seed` (at most 1 KiB): the same request and seed always
/// get the same output.
pub fn random(seed: &[u8]) -> Result<Randomness> {
    let (value, json) = call_json(
        unsafe { sys::random(seed.as_ptr(), seed.len() as u32) },
        "random",
    )?;
    let text = |name: &str| -> Result<String> {
        value
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Error::BadAnswer(format!("random answered no {name}")))
    };
    let bytes = |name: &str| -> Result<Vec<u8>> {
        hex_decode(&text(name)?)
            .ok_or_else(|| Error::BadAnswer(format!("random's {name} is not hex")))
    };
    let output = bytes("output")?;
    if output.len() < 8 {
        return Err(Error::BadAnswer(
            "random's output is shorter than 8 bytes".into(),
        ));
    }
    Ok(Randomness {
        output,
        proof: bytes("proof")?,
        public_key: bytes("public_key")?,
        origin: text("origin")?,
        seed: bytes("seed")?,
        prover: text("prover")?,
        json,
    })
}
