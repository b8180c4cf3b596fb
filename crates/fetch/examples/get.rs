//! `get URL FILE [MAX_BYTES] [CA_PEM]`: fetches URL into FILE, resuming from
//! FILE's length, with up to 5 attempts. A manual check of the client, and
//! the program measured for size and peak RSS when linked statically
//! (docs/update.md).

use std::fs::OpenOptions;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), Some(path)) = (args.first(), args.get(1)) else {
        eprintln!("usage: get URL FILE [MAX_BYTES] [CA_PEM]");
        return ExitCode::from(2);
    };
    let max = args.get(2).and_then(|m| m.parse().ok()).unwrap_or(u64::MAX);
    let mut client = fetch::Client::new();
    if let Some(ca) = args.get(3) {
        let pem = match std::fs::read(ca) {
            Ok(pem) => pem,
            Err(e) => {
                eprintln!("error: cannot read {ca}: {e}");
                return ExitCode::FAILURE;
            }
        };
        client = match client.with_roots_pem(&pem) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
    }
    let file = OpenOptions::new().create(true).append(true).open(path);
    let mut file = match file {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: cannot open {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let held = file.metadata().map(|m| m.len()).unwrap_or(0);
    match client.fetch_resuming(url, held, max, &mut file, 5, Duration::from_secs(1)) {
        Ok(got) => {
            eprintln!(
                "status {}, {} bytes from byte {}, {} in all",
                got.status,
                got.received,
                got.start,
                got.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
