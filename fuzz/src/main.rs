//! Runs the chat core's fuzz target, and the token parser's, on the stable toolchain for
//! a bounded time (a fifth of it for tokens).
//!
//! ```text
//! cargo run --release -p chat-fuzz -- [SECONDS] [SEED]
//! ```
//!
//! Inputs are random byte strings from a seeded generator, so a run can be repeated
//! exactly. This is not coverage-guided (that needs `cargo fuzz` and nightly); it relies on
//! the structured decoding in `chat_fuzz::run` and a dictionary to reach deep states. A
//! failing input is written to `target/fuzz-crash-SEED-N.bin` and the process exits 1.

use std::panic;
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let seed: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(0x5eed);
    let mut rng = fastrand::Rng::with_seed(seed);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut runs: u64 = 0;
    let mut bytes: u64 = 0;
    let mut input = Vec::new();
    while Instant::now() < deadline {
        for _ in 0..256 {
            input.clear();
            let len = rng.usize(0..4096);
            input.extend((0..len).map(|_| rng.u8(..)));
            bytes += len as u64;
            runs += 1;
            // Every fifth input goes to the token parser instead of the core.
            let target: fn(&[u8]) = if runs.is_multiple_of(5) {
                chat_fuzz::tokens
            } else {
                chat_fuzz::run
            };
            if panic::catch_unwind(|| target(&input)).is_err() {
                let path = format!("target/fuzz-crash-{seed}-{runs}.bin");
                let _ = std::fs::create_dir_all("target");
                let _ = std::fs::write(&path, &input);
                eprintln!("fuzz: input {runs} panicked; saved to {path}");
                std::process::exit(1);
            }
        }
    }
    println!("fuzz: {runs} inputs ({bytes} bytes) in {seconds} s, seed {seed}: no failure");
}
