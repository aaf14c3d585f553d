//! OutLayer's guest SDK for Rust (std only).
//!
//! A guest is a WASI command built for `wasm32-wasip1`: it reads its [`input`] on stdin, its
//! settings from the environment ([`env`]), writes its result with [`output`] (stdout; logs go to
//! stderr), and may use the platform's capabilities: [`storage`], verifiable randomness
//! ([`random`]), NEAR reads ([`near`]), outbound HTTPS ([`fetch`](mod@fetch)) and
//! [`refund_usd`]. A module imports only the host functions it calls, and importing one is how it
//! asks for that capability. The ABI underneath is `docs/guest-abi.md`; [`sys`] has it raw.
//!
//! ```no_run
//! let input = outlayer::input();
//! let count = outlayer::storage::increment("calls", 1).expect("storage");
//! outlayer::output(format!("call {count}, {} bytes in", input.len()).as_bytes());
//! ```

pub mod codec;
mod error;
pub mod fetch;
pub mod json;
pub mod near;
mod random;
pub mod storage;
pub mod sys;

pub use error::{status, Error, Result};
pub use fetch::{fetch, Request, Response};
pub use random::{random, Randomness};

use std::io::{Read, Write};

/// The run's whole input (stdin).
pub fn input() -> Vec<u8> {
    let mut data = Vec::new();
    std::io::stdin()
        .read_to_end(&mut data)
        .expect("reading stdin");
    data
}

/// The run's input as text (invalid UTF-8 is replaced).
pub fn input_string() -> String {
    String::from_utf8_lossy(&input()).into_owned()
}

/// Writes `data` to the run's output (stdout) and flushes it.
pub fn output(data: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(data).expect("writing stdout");
    stdout.flush().expect("flushing stdout");
}

/// An environment variable: the platform's own (`NEAR_SENDER_ID`, `OUTLAYER_CALL_ID`,
/// `ATTACHED_USD`, ...) or a secret the request names. None when unset or empty.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// Gives back part of the USD payment attached to the call (`ATTACHED_USD`, in the coin's
/// smallest unit); capped at what was attached, and the last call counts.
pub fn refund_usd(amount: u64) {
    unsafe { sys::refund_usd(amount.min(i64::MAX as u64) as i64) }
}

/// The result buffer, as the last host call left it.
fn read_result(length_hint: usize) -> Vec<u8> {
    let mut cap = length_hint.max(256);
    loop {
        let mut buffer = vec![0u8; cap];
        let copied = unsafe { sys::result_read(buffer.as_mut_ptr(), cap as u32) } as usize;
        if copied < cap || length_hint > 0 {
            buffer.truncate(copied);
            return buffer;
        }
        cap *= 4; // a message longer than we guessed: the buffer stays until the next call
    }
}

/// A negative status as an error, with the platform's message.
fn check(status: i64) -> Result<i64> {
    if status >= 0 {
        return Ok(status);
    }
    let message = String::from_utf8_lossy(&read_result(0)).into_owned();
    Err(Error::from_status(status, message))
}

/// A call whose answer is its number (delete, swap).
fn call_value(status: i64) -> Result<i64> {
    check(status)
}

/// A call whose answer is the result buffer, of the returned length.
fn call_bytes(status: i64) -> Result<Vec<u8>> {
    let length = check(status)? as usize;
    if length == 0 {
        return Ok(Vec::new());
    }
    Ok(read_result(length))
}

/// A call whose answer is JSON text: (the value, the text).
fn call_json(status: i64, what: &str) -> Result<(json::Value, String)> {
    let answer = call_bytes(status)?;
    let text = String::from_utf8(answer)
        .map_err(|_| Error::BadAnswer(format!("{what} answered bytes that are not UTF-8")))?;
    let value = json::Value::parse(&text)
        .map_err(|why| Error::BadAnswer(format!("{what} answered {text:?}: {why}")))?;
    Ok((value, text))
}

/// Declares the hosts this module may fetch from, as the `outlayer.fetch` custom section
/// (one per line; `*.example.com` covers subdomains; at most 32). Use it once, at the crate's
/// top level:
///
/// ```
/// outlayer::fetch_hosts!("api.example.com", "*.coingecko.com");
/// ```
///
/// The section is part of the module, so its SHA-256 covers the list.
#[macro_export]
macro_rules! fetch_hosts {
    ($($host:literal),+ $(,)?) => {
        const _: () = {
            const HOSTS: &str = concat!($($host, "\n"),+);
            #[link_section = "outlayer.fetch"]
            #[used]
            static OUTLAYER_FETCH_HOSTS: [u8; HOSTS.len()] = $crate::__bytes_of(HOSTS);
        };
    };
}

#[doc(hidden)]
pub const fn __bytes_of<const N: usize>(text: &str) -> [u8; N] {
    let bytes = text.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = bytes[i];
        i += 1;
    }
    out
}
