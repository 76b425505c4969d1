//! Rebuild when a migration is added: they are embedded in the binary (diesel's advice).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
