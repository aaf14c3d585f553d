//! Outbound HTTPS to the hosts the module declares ([`crate::fetch_hosts!`]). Any HTTP status
//! is a [`Response`]; the platform's refusals are errors ([`crate::Error::Refused`]: a host off
//! the list, a private address, failed TLS; [`crate::Error::NotEnabled`]: no hosts declared).

use crate::codec::{base64_decode, base64_encode};
use crate::json::{quote, Value};
use crate::{call_json, sys, Error, Result};

/// An HTTPS request: `Request::get(url).header("accept", "application/json")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// GET, HEAD, POST, PUT, PATCH or DELETE.
    pub method: String,
    /// `https://...`, its host on the module's list.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl Request {
    pub fn new(method: &str, url: &str) -> Request {
        Request {
            method: method.to_string(),
            url: url.to_string(),
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn get(url: &str) -> Request {
        Request::new("GET", url)
    }

    pub fn post(url: &str, body: &[u8]) -> Request {
        Request::new("POST", url).body(body)
    }

    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, body: &[u8]) -> Request {
        self.body = Some(body.to_vec());
        self
    }

    /// The request as the ABI's JSON.
    pub fn to_json(&self) -> String {
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(|(k, v)| format!("{}:{}", quote(k), quote(v)))
            .collect();
        let mut out = format!(
            "{{\"method\":{},\"url\":{},\"headers\":{{{}}}",
            quote(&self.method),
            quote(&self.url),
            headers.join(",")
        );
        if let Some(body) = &self.body {
            out.push_str(&format!(",\"body\":{}", quote(&base64_encode(body))));
        }
        out.push('}');
        out
    }
}

/// What the remote host answered (after the platform followed redirects).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The URL after redirects.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value (names compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<Value> {
        Value::parse(&self.text())
            .map_err(|why| Error::BadAnswer(format!("the body is not JSON: {why}")))
    }
}

/// Sends `request` through the platform.
pub fn fetch(request: &Request) -> Result<Response> {
    let json = request.to_json();
    let (value, _) = call_json(
        unsafe { sys::fetch(json.as_ptr(), json.len() as u32) },
        "fetch",
    )?;
    let bad = |what: &str| Error::BadAnswer(format!("fetch answered no {what}"));
    let status = value
        .get("status")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("status"))?;
    let body = match value.get("body").and_then(Value::as_str) {
        Some(text) => base64_decode(text).ok_or_else(|| bad("base64 body"))?,
        None => Vec::new(),
    };
    let headers = value
        .get("headers")
        .and_then(Value::as_object)
        .map(|members| {
            members
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    Ok(Response {
        status: status as u16,
        url: value
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or(&request.url)
            .to_string(),
        headers,
        body,
    })
}
