//! Outbound HTTPS: fetches a URL (the input; by default NEAR's price in USD) from a host this
//! module declares, and answers the status and body. A host off the list is refused by the
//! platform: the answer then names the error.
outlayer::fetch_hosts!("api.coingecko.com");

const DEFAULT: &str = "https://api.coingecko.com/api/v3/simple/price?ids=near&vs_currencies=usd";

fn main() {
    let input = outlayer::input_string();
    let url = if input.trim().is_empty() {
        DEFAULT
    } else {
        input.trim()
    };
    let request = outlayer::Request::get(url).header("accept", "application/json");
    let answer = match outlayer::fetch(&request) {
        Ok(response) => format!(
            "{{\"status\":{},\"body\":{}}}",
            response.status,
            outlayer::json::quote(&response.text())
        ),
        Err(error) => format!(
            "{{\"error\":\"{}\",\"message\":{}}}",
            error.name(),
            outlayer::json::quote(error.message())
        ),
    };
    outlayer::output(answer.as_bytes());
}
