# Everyday commands. `just --list` shows them; .ci/run runs `just ci`.

# Run every test: unit tests, the CLI suite (real git, podman, the API server double), examples.
test *ARGS:
    cargo test --locked {{ARGS}}

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --all-targets --locked -- -D warnings

# The crate's rust-version is at least every locked dependency's.
msrv:
    .ci/msrv

# Licenses, duplicate versions, banned crates and sources (deny.toml).
deny:
    cargo deny --locked check licenses bans sources

# The doc comments of the public API, with missing ones refused.
docs:
    RUSTDOCFLAGS="-D missing_docs -D warnings" cargo doc --no-deps --lib --locked

# The hostile inputs: request, Promise and destination files, pipeline outputs, HTTP.
hostile:
    cargo test --locked --lib hostile
    cargo test --locked --test cli hostile

# The benchmark harness (see docs/performance.md); e.g. `just bench --sizes 1000`.
bench *ARGS:
    cargo run --release --locked --example bench -- {{ARGS}}

# What CI runs.
ci: lint msrv deny docs test
