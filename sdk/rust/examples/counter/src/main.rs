//! A counter that persists in storage across calls: counts every call (shared by all callers)
//! and the caller's own calls, and remembers the last input. The first call finds no last
//! input: storage answers NotFound, shown as `previous_error`.
use outlayer::json::quote;
use outlayer::{storage, Error};

fn main() {
    let input = outlayer::input_string();
    let count = storage::increment("count", 1).expect("counting calls");
    let caller_count = storage::per_caller()
        .increment("count", 1)
        .expect("counting yours");
    let (previous, previous_error) = match storage::get("last_input") {
        Ok(value) => (quote(&String::from_utf8_lossy(&value)), "null".to_string()),
        Err(missing @ Error::NotFound(_)) => ("null".to_string(), quote(&missing.to_string())),
        Err(other) => panic!("reading the last input: {other}"),
    };
    storage::set("last_input", input.as_bytes()).expect("remembering the input");
    outlayer::output(
        format!(
            "{{\"language\":\"rust\",\"count\":{count},\"caller_count\":{caller_count},\
             \"previous_input\":{previous},\"previous_error\":{previous_error}}}"
        )
        .as_bytes(),
    );
}
