//! The `carehub` binary: `carehub` (serve), `migrate`, `seed`, `token`, `policy`, `schema`,
//! `audit`. See `carehub --help`.

/// mimalloc instead of the system allocator: allocation-heavy GraphQL execution spent about a
/// third of its CPU in glibc's malloc/free, and many small per-connection buffers fragment it.
/// Feature `system-alloc` keeps the system allocator, for heap profilers that interpose malloc
/// (heaptrack; see bench/README.md).
#[cfg(not(feature = "system-alloc"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    carehub_api::cli::main()
}
