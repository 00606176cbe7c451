//! The `promised` binary: everything lives in the library's `cli` module.

/// mimalloc instead of glibc's malloc: a pass makes many short-lived allocations of
/// very different sizes (zlib streams for each object written, YAML documents), and
/// glibc's moving mmap threshold left the process holding several times its live heap
/// (see docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    promised::cli::main()
}
