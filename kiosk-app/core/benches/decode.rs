//! Decoding one 1280x720 grayscale frame through the ladder (target: median <= 8 ms, release).
//!
//! `cargo bench -p kiosk-core --bench decode`; the figures live in docs/benchmarks.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use kiosk_core::scan::GrayFrame;
use kiosk_core::scan::Ladder;
use kiosk_core::scan::decode::{Decoder, LiveDecoder, Rxing};
use kiosk_core::scan::synthetic::{Distortion, generate, photograph};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn frames() -> (GrayFrame, GrayFrame) {
    let with_code = generate(42, 1)
        .into_iter()
        .find(|s| s.distortion == Distortion::Large)
        .map(|s| s.frame)
        .expect("the set has a large sample");
    // No code at all: every rung of the ladder runs (the common case for a live camera).
    let empty = photograph(b"", Distortion::Large, &mut ChaCha20Rng::seed_from_u64(42));
    (with_code, empty)
}

fn decode(c: &mut Criterion) {
    let (with_code, empty) = frames();
    let ladder = Ladder::default();
    assert!(
        !ladder.decode(&with_code).payloads.is_empty(),
        "the bench frame must read"
    );
    let mut group = c.benchmark_group("decode_1280x720");
    group.sample_size(30);
    group.bench_function("ladder, code in view", |b| {
        b.iter(|| ladder.decode(black_box(&with_code)))
    });
    group.bench_function("rxing alone, code in view", |b| {
        b.iter(|| Rxing.decode(black_box(&with_code)))
    });
    group.bench_function("ladder, no code", |b| {
        b.iter(|| ladder.decode(black_box(&empty)))
    });
    // A live camera: the usual frame runs the fast rungs; one in FULL_EVERY runs all of them.
    group.bench_function("live camera, no code, a fast frame", |b| {
        b.iter(|| ladder.decode_with(black_box(&empty), false))
    });
    let mut live = LiveDecoder::new(Ladder::default());
    group.bench_function("live camera, no code, FULL_EVERY frames in a row", |b| {
        b.iter(|| {
            for _ in 0..LiveDecoder::FULL_EVERY {
                black_box(live.decode(black_box(&empty)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
