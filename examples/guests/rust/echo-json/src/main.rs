//! An OutLayer guest in Rust (std only): reads stdin and the environment, prints one JSON object.
use std::env;
use std::io::{self, Read, Write};

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn main() {
    let mut input = String::new();
    io::stdin().read_to_string(&mut input).expect("stdin is UTF-8");
    let greeting = env::var("GREETING").unwrap_or_else(|_| "hello".to_string());
    let mut names: Vec<String> = env::vars().map(|(k, _)| k).collect();
    names.sort();
    eprintln!("echo-json (Rust): read {} bytes of input", input.len());
    let names_json: Vec<String> = names.iter().map(|n| json_string(n)).collect();
    let mut stdout = io::stdout().lock();
    writeln!(
        stdout,
        "{{\"language\":\"rust\",\"greeting\":{},\"input\":{},\"input_bytes\":{},\"env_names\":[{}]}}",
        json_string(&greeting),
        json_string(&input),
        input.len(),
        names_json.join(",")
    )
    .expect("write output");
}
