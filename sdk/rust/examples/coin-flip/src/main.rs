//! A coin flip with verifiable randomness: the input is the seed (say, the round's name). The
//! platform's keystore proves the output for this request and seed, so it cannot be re-rolled;
//! the answer carries the proof, which anyone checks with `outlayer vrf verify`.
fn main() {
    let mut seed = outlayer::input();
    if seed.is_empty() {
        seed = b"coin-flip".to_vec();
    }
    let randomness = outlayer::random(&seed).expect("randomness");
    let side = if randomness.output[0] & 1 == 0 {
        "heads"
    } else {
        "tails"
    };
    eprintln!("coin flip: {side} (prover: {})", randomness.prover);
    outlayer::output(
        format!("{{\"side\":\"{side}\",\"randomness\":{}}}", randomness.json).as_bytes(),
    );
}
