//! The decoder ladder measured on the seeded synthetic set (kiosk_core::scan::synthetic): the hit
//! rate per distortion for rxing alone, rqrr alone and the ladder, printed as the table kept in
//! docs/benchmarks.md ("Decoding"). Run with `-- --nocapture` to see it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kiosk_core::scan::decode::{Decoder, Retry, Rqrr, Rxing, Step, guarded};
use kiosk_core::scan::synthetic::{self, Distortion};
use kiosk_core::scan::{GrayFrame, Ladder, decode_file};

/// Samples per distortion: 11 distortions, 330 images.
const PER_DISTORTION: usize = 30;
const SEED: u64 = 20_250_601;

#[derive(Default, Clone, Copy)]
struct Tally {
    read: usize,
    wrong: usize,
    total: usize,
    time: Duration,
}

#[test]
fn hit_rate_per_distortion_and_decoder() {
    let samples = synthetic::generate(SEED, PER_DISTORTION);
    let ladder = Ladder::default();
    let decoders: [(&str, &dyn Decoder); 3] =
        [("rxing", &Rxing), ("rqrr", &Rqrr), ("ladder", &ladder)];
    let mut table: BTreeMap<(Distortion, &str), Tally> = BTreeMap::new();
    let mut steps: BTreeMap<String, usize> = BTreeMap::new();
    for sample in &samples {
        for (name, decoder) in decoders {
            let start = Instant::now();
            let read = guarded(decoder, &sample.frame);
            let tally = table.entry((sample.distortion, name)).or_default();
            tally.time += start.elapsed();
            tally.total += 1;
            if read.contains(&sample.payload) {
                tally.read += 1;
            } else if !read.is_empty() {
                tally.wrong += 1;
            }
        }
        if let Some(step) = ladder.decode(&sample.frame).step {
            *steps.entry(step).or_default() += 1;
        }
    }

    let mut totals: BTreeMap<&str, Tally> = BTreeMap::new();
    println!("\n| distortion | images | rxing | rqrr | ladder |");
    println!("|---|---|---|---|---|");
    for distortion in Distortion::ALL {
        let cells: Vec<String> = decoders
            .iter()
            .map(|(name, _)| {
                let t = table[&(distortion, *name)];
                let sum = totals.entry(name).or_default();
                sum.read += t.read;
                sum.wrong += t.wrong;
                sum.total += t.total;
                sum.time += t.time;
                format!("{}", t.read)
            })
            .collect();
        println!(
            "| {} | {} | {} |",
            distortion.name(),
            PER_DISTORTION,
            cells.join(" | ")
        );
    }
    let cells: Vec<String> = decoders
        .iter()
        .map(|(name, _)| {
            let t = totals[name];
            format!(
                "**{}** ({:.0}%)",
                t.read,
                100.0 * t.read as f64 / t.total as f64
            )
        })
        .collect();
    println!("| all | {} | {} |", samples.len(), cells.join(" | "));
    for (name, _) in decoders {
        let t = totals[name];
        println!(
            "{name}: {} read, {} wrong payloads, mean {:.1} ms per image (this build)",
            t.read,
            t.wrong,
            t.time.as_secs_f64() * 1000.0 / t.total as f64
        );
    }
    println!("ladder steps that read: {steps:?}");

    for name in ["rxing", "ladder"] {
        assert_eq!(
            table[&(Distortion::Clean, name)].read,
            PER_DISTORTION,
            "{name} must read every clean image"
        );
    }
    assert!(totals["ladder"].read >= totals["rxing"].read);
    assert!(totals["ladder"].read >= totals["rqrr"].read);
    assert_eq!(
        totals["ladder"].wrong, 0,
        "the ladder returned a wrong payload"
    );
    assert_eq!(
        table[&(Distortion::Inverted, "ladder")].read,
        PER_DISTORTION,
        "the inverted retry reads every light-on-dark code"
    );
}

#[test]
fn a_decoder_that_panics_never_takes_the_ladder_down() {
    struct Panics;
    impl Decoder for Panics {
        fn name(&self) -> &str {
            "panics"
        }
        fn decode(&self, _: &GrayFrame) -> Vec<Vec<u8>> {
            let v: Vec<u8> = Vec::new();
            vec![vec![v[3]]]
        }
    }
    let sample = &synthetic::generate(SEED, 1)[0];
    let ladder = Ladder::new(vec![
        Step::new(Panics, Retry::AsIs),
        Step::new(Rxing, Retry::AsIs),
    ]);
    let result = ladder.decode(&sample.frame);
    assert_eq!(result.payloads, vec![sample.payload.clone()]);
    assert_eq!(result.step.as_deref(), Some("rxing"));
}

#[test]
fn decode_file_reports_codes_and_errors_without_failing() {
    let dir = std::env::temp_dir().join(format!("gatepass-decode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sample = &synthetic::generate(SEED, 1)[0];
    let png = dir.join("badge.png");
    sample.frame.to_image().save(&png).unwrap();
    let jpg = dir.join("badge.jpg");
    sample.frame.to_image().save(&jpg).unwrap();
    let text = dir.join("notes.png");
    std::fs::write(&text, "not an image").unwrap();
    let blank = dir.join("blank.png");
    image::GrayImage::from_pixel(64, 64, image::Luma([200]))
        .save(&blank)
        .unwrap();

    let ladder = Ladder::default();
    let expected = String::from_utf8(sample.payload.clone()).unwrap();
    for file in [&png, &jpg] {
        let report = decode_file(&ladder, file);
        assert_eq!(report.codes, vec![expected.clone()], "{}", file.display());
        assert!(report.error.is_none());
    }
    let report = decode_file(&ladder, &blank);
    assert!(report.codes.is_empty() && report.error.is_none());
    let report = decode_file(&ladder, &text);
    assert!(report.codes.is_empty());
    assert!(report.error.unwrap().contains("notes.png"));
    let missing = decode_file(&ladder, &dir.join("missing.png"));
    assert!(missing.error.is_some());
    let json = serde_json::to_value(decode_file(&ladder, &png)).unwrap();
    assert!(json.get("error").is_none() && json["ms"].is_number());
    std::fs::remove_dir_all(dir).unwrap();
}
