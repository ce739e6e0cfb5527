//! What a kiosk unlock costs: deriving the key-encryption key from the PIN with Argon2id and
//! opening the wrapped data key, at the recommended costs and at the candidates around them.
//! An attacker with a copied store pays the same per guessed PIN.
//!
//! `cargo bench -p sync-protocol --bench pin`; the figures live in docs/benchmarks.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sync_protocol::crypto::{DataKey, KdfParams, unwrap_data_key, wrap_data_key};

fn unlock(c: &mut Criterion) {
    let rng = &mut ChaCha20Rng::seed_from_u64(1);
    let key = DataKey::generate(rng);
    let mut group = c.benchmark_group("unlock_argon2id");
    group.sample_size(10);
    let candidates = [
        ("19 MiB, 2 passes (OWASP minimum)", 19 * 1024, 2),
        ("64 MiB, 3 passes", 64 * 1024, 3),
        ("128 MiB, 3 passes", 128 * 1024, 3),
        ("256 MiB, 3 passes", 256 * 1024, 3),
    ];
    for (name, memory_kib, iterations) in candidates {
        let params = KdfParams {
            memory_kib,
            iterations,
            parallelism: 1,
        };
        let wrapped = wrap_data_key("246810", &key, params, 0, rng).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| unwrap_data_key(black_box("246810"), &wrapped).unwrap())
        });
    }
    let wrapped = wrap_data_key("246810", &key, KdfParams::RECOMMENDED, 0, rng).unwrap();
    group.bench_function("KdfParams::RECOMMENDED", |b| {
        b.iter(|| unwrap_data_key(black_box("246810"), &wrapped).unwrap())
    });
    group.finish();
}

criterion_group!(benches, unlock);
criterion_main!(benches);
