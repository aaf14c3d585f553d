//! Reads a contract's view method from inside a guest: the input is `CONTRACT METHOD [ARGS]`
//! (ARGS: JSON, default `{}`), the output the view's value with the final block it was read
//! at. A missing account or contract is an answer too (`NotFound`), not a crash.
use outlayer::json::quote;
use outlayer::{near, Error};

fn main() {
    let input = outlayer::input_string();
    let mut parts = input.trim().splitn(3, char::is_whitespace);
    let contract = parts.next().unwrap_or_default();
    let method = parts.next().unwrap_or_default();
    let args = parts.next().map(str::trim).filter(|a| !a.is_empty()).unwrap_or("{}");
    if contract.is_empty() || method.is_empty() {
        eprintln!("usage: CONTRACT METHOD [ARGS_JSON]");
        std::process::exit(2);
    }
    let height = near::block().ok().and_then(|b| b.get("height").and_then(|h| h.as_u64()));
    let value = match near::view(contract, method, args.as_bytes()) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(missing @ Error::NotFound(_)) => format!("{{\"not_found\":{}}}", quote(&missing.to_string())),
        Err(other) => panic!("{contract}.{method}: {other}"),
    };
    let height = height.map_or("null".to_string(), |h| h.to_string());
    outlayer::output(
        format!(
            "{{\"contract\":{},\"method\":{},\"block_height\":{height},\"value\":{value}}}",
            quote(contract),
            quote(method)
        )
        .as_bytes(),
    );
}
