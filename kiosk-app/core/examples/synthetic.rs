//! Writes the synthetic QR set to a folder as PNG files, with `payloads.tsv` beside them, for
//! trying `kiosk decode` or a replay demo by hand:
//!
//! `cargo run -p kiosk-core --example synthetic -- OUT_DIR [PER_DISTORTION] [SEED]`

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use kiosk_core::scan::payload_text;
use kiosk_core::scan::synthetic::generate;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: synthetic OUT_DIR [PER_DISTORTION] [SEED]");
        return ExitCode::FAILURE;
    };
    let per: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let seed: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_250_601);
    let run = || -> Result<usize, Box<dyn std::error::Error>> {
        std::fs::create_dir_all(&dir)?;
        let mut index = std::fs::File::create(dir.join("payloads.tsv"))?;
        let samples = generate(seed, per);
        for sample in &samples {
            let file = format!("{}.png", sample.name);
            sample.frame.to_image().save(dir.join(&file))?;
            writeln!(index, "{file}\t{}", payload_text(&sample.payload))?;
        }
        Ok(samples.len())
    };
    match run() {
        Ok(n) => {
            println!("{n} images in {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}
