//! libFuzzer target `recipe`: see fuzz/bodies.rs.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::run("recipe", data, bodies::scratch()));
