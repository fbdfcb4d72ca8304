//! `edgefn-runtime`: what a Lambda zip ships as `bootstrap` and an Azure app as its custom
//! handler. It loads the package's precompiled artifacts and never compiles.

fn main() -> std::process::ExitCode {
    edgefn_host::cli::runtime_main()
}
