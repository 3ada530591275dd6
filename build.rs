//! Link flags for the cdylib.
fn main() {
    // The crypto engine keeps per-thread state with pthread-key destructors. If a host dlclose()s
    // us (p11-kit and test harnesses do) and a thread exits later, those destructors would run
    // in unmapped code. Marking the library "nodelete" keeps its code mapped for the process's
    // life; dlclose still drops the host's reference.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
}
