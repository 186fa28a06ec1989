//! The `supportd` binary: everything it does lives in the library, behind [`supportd::cli`].

fn main() -> std::process::ExitCode {
    supportd::cli::main()
}
