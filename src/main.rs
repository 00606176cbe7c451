//! The `promised` binary: everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    promised::cli::main()
}
