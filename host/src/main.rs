//! The `edgefn` command line.
#![deny(unsafe_code)]

fn main() -> std::process::ExitCode {
    edgefn_host::cli::main()
}
