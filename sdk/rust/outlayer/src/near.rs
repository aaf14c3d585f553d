//! Read-only NEAR: view calls, accounts and the final block, through the platform's RPC (at
//! `final` finality). [`crate::Error::NotFound`]: no such account or contract;
//! [`crate::Error::Failed`]: the view panicked (the contract's message).

use crate::json::Value;
use crate::{call_bytes, call_json, sys, Result};

/// Calls view method `method` of `contract` with `args` (usually JSON, passed as given); the
/// view's return value as the contract returned it (usually JSON).
pub fn view(contract: &str, method: &str, args: &[u8]) -> Result<Vec<u8>> {
    call_bytes(unsafe {
        sys::near_view(
            contract.as_ptr(),
            contract.len() as u32,
            method.as_ptr(),
            method.len() as u32,
            args.as_ptr(),
            args.len() as u32,
        )
    })
}

/// [`view`], its answer parsed as JSON.
pub fn view_json(contract: &str, method: &str, args: &str) -> Result<Value> {
    let status = unsafe {
        sys::near_view(
            contract.as_ptr(),
            contract.len() as u32,
            method.as_ptr(),
            method.len() as u32,
            args.as_ptr(),
            args.len() as u32,
        )
    };
    call_json(status, "near_view").map(|(value, _)| value)
}

/// The account as JSON: `amount`, `locked`, `code_hash`, `storage_usage`, ...
pub fn view_account(account: &str) -> Result<Value> {
    let status = unsafe { sys::near_view_account(account.as_ptr(), account.len() as u32) };
    call_json(status, "near_view_account").map(|(value, _)| value)
}

/// The final block's header as JSON: `height`, `hash`, `prev_hash`, `timestamp`,
/// `timestamp_nanosec`, `epoch_id`.
pub fn block() -> Result<Value> {
    call_json(unsafe { sys::near_block() }, "near_block").map(|(value, _)| value)
}
