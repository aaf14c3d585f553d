//! The raw host functions of the `outlayer` import module, exactly as `docs/guest-abi.md`
//! specifies them. Prefer the safe wrappers of this crate; these are for what they do not cover.
//!
//! Off `wasm32` (a host `cargo test`), every function is a stand-in that answers `NOT_ENABLED`,
//! so code using the SDK still compiles and links there.

/// Flags: the caller's own space instead of the store's shared one.
pub const PER_CALLER: u32 = 1;
/// `storage_swap`: succeed only if the key is absent (`expected` is ignored).
pub const EXPECT_ABSENT: u32 = 2;

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "outlayer")]
extern "C" {
    pub fn storage_get(key_ptr: *const u8, key_len: u32, flags: u32) -> i64;
    pub fn storage_set(
        key_ptr: *const u8,
        key_len: u32,
        value_ptr: *const u8,
        value_len: u32,
        flags: u32,
    ) -> i64;
    pub fn storage_delete(key_ptr: *const u8, key_len: u32, flags: u32) -> i64;
    pub fn storage_swap(
        key_ptr: *const u8,
        key_len: u32,
        expected_ptr: *const u8,
        expected_len: u32,
        value_ptr: *const u8,
        value_len: u32,
        flags: u32,
    ) -> i64;
    pub fn storage_increment(key_ptr: *const u8, key_len: u32, delta: i64, flags: u32) -> i64;
    pub fn storage_list(
        prefix_ptr: *const u8,
        prefix_len: u32,
        cursor_ptr: *const u8,
        cursor_len: u32,
        flags: u32,
    ) -> i64;
    pub fn random(seed_ptr: *const u8, seed_len: u32) -> i64;
    pub fn near_view(
        contract_ptr: *const u8,
        contract_len: u32,
        method_ptr: *const u8,
        method_len: u32,
        args_ptr: *const u8,
        args_len: u32,
    ) -> i64;
    pub fn near_view_account(account_ptr: *const u8, account_len: u32) -> i64;
    pub fn near_block() -> i64;
    pub fn fetch(request_ptr: *const u8, request_len: u32) -> i64;
    pub fn refund_usd(amount: i64);
    /// Copies the result buffer (at most `cap` bytes) to `ptr`; returns the bytes copied.
    pub fn result_read(ptr: *mut u8, cap: u32) -> u32;
}

#[cfg(not(target_arch = "wasm32"))]
pub use stand_in::*;

#[cfg(not(target_arch = "wasm32"))]
#[allow(clippy::missing_safety_doc)]
mod stand_in {
    const NOT_ENABLED: i64 = -2;
    const WHY: &[u8] = b"the outlayer host functions exist only in a wasm32 guest under OutLayer";

    pub unsafe fn storage_get(_: *const u8, _: u32, _: u32) -> i64 {
        NOT_ENABLED
    }
    pub unsafe fn storage_set(_: *const u8, _: u32, _: *const u8, _: u32, _: u32) -> i64 {
        NOT_ENABLED
    }
    pub unsafe fn storage_delete(_: *const u8, _: u32, _: u32) -> i64 {
        NOT_ENABLED
    }
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn storage_swap(
        _: *const u8,
        _: u32,
        _: *const u8,
        _: u32,
        _: *const u8,
        _: u32,
        _: u32,
    ) -> i64 {
        NOT_ENABLED
    }
    pub unsafe fn storage_increment(_: *const u8, _: u32, _: i64, _: u32) -> i64 {
        NOT_ENABLED
    }
    pub unsafe fn storage_list(_: *const u8, _: u32, _: *const u8, _: u32, _: u32) -> i64 {
        NOT_ENABLED
    }
    pub unsafe fn random(_: *const u8, _: u32) -> i64 {
        NOT_ENABLED
    }
    pub unsafe fn near_view(
        _: *const u8,
        _: u32,
        _: *const u8,
        _: u32,
        _: *const u8,
        _: u32,
    ) -> i64 {
        NOT_ENABLED
    }
    pub unsafe fn near_view_account(_: *const u8, _: u32) -> i64 {
        NOT_ENABLED
    }
    pub unsafe fn near_block() -> i64 {
        NOT_ENABLED
    }
    pub unsafe fn fetch(_: *const u8, _: u32) -> i64 {
        NOT_ENABLED
    }
    pub unsafe fn refund_usd(_: i64) {}
    pub unsafe fn result_read(ptr: *mut u8, cap: u32) -> u32 {
        let n = WHY.len().min(cap as usize);
        std::ptr::copy_nonoverlapping(WHY.as_ptr(), ptr, n);
        n as u32
    }
}
