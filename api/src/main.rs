//! The `carehub` binary: `carehub` (serve), `migrate`, `seed`, `token`, `policy`, `schema`,
//! `audit`. See `carehub --help`.

fn main() -> std::process::ExitCode {
    carehub_api::cli::main()
}
