//! Storage that persists across runs: the store's shared space ([`get`], [`set`], ...) and the
//! caller's own ([`per_caller`]). Which store a run sees is decided by the platform.

use crate::json::Value;
use crate::{call_bytes, call_value, check, sys, Error, Result};

/// One space of the run's store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// Shared by every caller of the project (or repository, or module).
    Shared,
    /// The caller's own: the request's signer, the payment key's owner.
    PerCaller,
}

/// The caller's own space: `storage::per_caller().get("balance")`.
pub fn per_caller() -> Space {
    Space::PerCaller
}

/// A page of [`Space::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    /// Up to 100 keys, in order.
    pub keys: Vec<String>,
    /// Where the next page starts; empty on the last page.
    pub next_cursor: String,
}

impl Space {
    fn flags(self) -> u32 {
        match self {
            Space::Shared => 0,
            Space::PerCaller => sys::PER_CALLER,
        }
    }

    /// The value of `key`; [`Error::NotFound`] when there is none.
    pub fn get(self, key: &str) -> Result<Vec<u8>> {
        call_bytes(unsafe { sys::storage_get(key.as_ptr(), key.len() as u32, self.flags()) })
    }

    /// The value of `key`, or None when there is none.
    pub fn get_optional(self, key: &str) -> Result<Option<Vec<u8>>> {
        match self.get(key) {
            Ok(value) => Ok(Some(value)),
            Err(Error::NotFound(_)) => Ok(None),
            Err(other) => Err(other),
        }
    }

    pub fn set(self, key: &str, value: &[u8]) -> Result<()> {
        let flags = self.flags();
        check(unsafe {
            sys::storage_set(
                key.as_ptr(),
                key.len() as u32,
                value.as_ptr(),
                value.len() as u32,
                flags,
            )
        })
        .map(|_| ())
    }

    /// True if it deleted the key, false if there was none.
    pub fn delete(self, key: &str) -> Result<bool> {
        call_value(unsafe { sys::storage_delete(key.as_ptr(), key.len() as u32, self.flags()) })
            .map(|n| n == 1)
    }

    /// Compare-and-swap: writes `value` if the key holds `expected` (`None`: if it is absent).
    /// True if it wrote, false if the key held something else (nothing written).
    pub fn swap(self, key: &str, expected: Option<&[u8]>, value: &[u8]) -> Result<bool> {
        let (flags, expected) = match expected {
            Some(expected) => (self.flags(), expected),
            None => (self.flags() | sys::EXPECT_ABSENT, &[][..]),
        };
        call_value(unsafe {
            sys::storage_swap(
                key.as_ptr(),
                key.len() as u32,
                expected.as_ptr(),
                expected.len() as u32,
                value.as_ptr(),
                value.len() as u32,
                flags,
            )
        })
        .map(|n| n == 1)
    }

    /// Adds `delta` to the decimal counter at `key` (absent counts as 0); the new total.
    pub fn increment(self, key: &str, delta: i64) -> Result<i64> {
        let total = call_bytes(unsafe {
            sys::storage_increment(key.as_ptr(), key.len() as u32, delta, self.flags())
        })?;
        std::str::from_utf8(&total)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| Error::BadAnswer(format!("storage_increment answered {total:?}")))
    }

    /// Up to 100 keys starting with `prefix`, in order after `cursor` (empty: from the start).
    pub fn list(self, prefix: &str, cursor: &str) -> Result<ListPage> {
        let answer = call_bytes(unsafe {
            sys::storage_list(
                prefix.as_ptr(),
                prefix.len() as u32,
                cursor.as_ptr(),
                cursor.len() as u32,
                self.flags(),
            )
        })?;
        let bad = || {
            Error::BadAnswer(format!(
                "storage_list answered {}",
                String::from_utf8_lossy(&answer)
            ))
        };
        let value =
            Value::parse(std::str::from_utf8(&answer).map_err(|_| bad())?).map_err(|_| bad())?;
        let keys = value
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(bad)?
            .iter()
            .map(|k| k.as_str().map(str::to_string).ok_or_else(bad))
            .collect::<Result<Vec<_>>>()?;
        let next_cursor = value
            .get("next_cursor")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        Ok(ListPage { keys, next_cursor })
    }

    /// Every key starting with `prefix`, page after page (each page is a host call).
    pub fn keys(self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = self.list(prefix, &cursor)?;
            keys.extend(page.keys);
            if page.next_cursor.is_empty() {
                return Ok(keys);
            }
            cursor = page.next_cursor;
        }
    }
}

/// The value of `key` in the shared space; [`Error::NotFound`] when there is none.
pub fn get(key: &str) -> Result<Vec<u8>> {
    Space::Shared.get(key)
}

/// The value of `key` in the shared space, or None.
pub fn get_optional(key: &str) -> Result<Option<Vec<u8>>> {
    Space::Shared.get_optional(key)
}

pub fn set(key: &str, value: &[u8]) -> Result<()> {
    Space::Shared.set(key, value)
}

pub fn delete(key: &str) -> Result<bool> {
    Space::Shared.delete(key)
}

pub fn swap(key: &str, expected: Option<&[u8]>, value: &[u8]) -> Result<bool> {
    Space::Shared.swap(key, expected, value)
}

pub fn increment(key: &str, delta: i64) -> Result<i64> {
    Space::Shared.increment(key, delta)
}

pub fn list(prefix: &str, cursor: &str) -> Result<ListPage> {
    Space::Shared.list(prefix, cursor)
}

pub fn keys(prefix: &str) -> Result<Vec<String>> {
    Space::Shared.keys(prefix)
}
