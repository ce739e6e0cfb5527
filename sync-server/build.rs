//! Rebuilds the server when a migration is added: `sqlx::migrate!` embeds the directory at
//! compile time, and cargo does not otherwise watch it.

fn main() {
    println!("cargo:rerun-if-changed=../migrations/server");
}
