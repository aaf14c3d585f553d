//! An OutLayer guest with dependencies: parses its JSON input with serde (derive), answers
//! JSON with the input's SHA-256. Logs go to stderr.
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;

#[derive(Deserialize)]
struct Request {
    name: String,
    #[serde(default)]
    times: u32,
}

#[derive(Serialize)]
struct Response<'a> {
    language: &'a str,
    greeting: String,
    message: String,
    sha256: String,
    sender: Option<String>,
}

fn main() {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).expect("stdin");
    eprintln!("serde-echo (Rust): read {} bytes of input", input.len());
    let request: Request = match serde_json::from_str(&input) {
        Ok(request) => request,
        Err(error) => {
            println!("{}", serde_json::json!({"error": format!("bad input: {error}")}));
            std::process::exit(1);
        }
    };
    let greeting = std::env::var("GREETING").unwrap_or_else(|_| "hello".into());
    let response = Response {
        language: "rust",
        message: format!("{greeting}, {}", request.name).repeat(request.times.clamp(1, 3) as usize),
        greeting,
        sha256: hex::encode(Sha256::digest(input.as_bytes())),
        sender: std::env::var("NEAR_SENDER_ID").ok(),
    };
    println!("{}", serde_json::to_string(&response).unwrap());
}
