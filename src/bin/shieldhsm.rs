//! `shieldhsm`: the emulated nShield's administration tools in one binary (see `src/cli`).
//! The CLI lives in the binary, not the library, so `libshieldhsm.so` carries none of it.

#[path = "../cli/mod.rs"]
mod cli;

fn main() {
    std::process::exit(cli::main());
}
