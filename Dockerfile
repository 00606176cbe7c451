# The promised image: the daemon, and the helper the kubernetes executor runs in each
# pipeline Pod (`promised internal handback`). Not built in CI: these machines reach no
# container registry, so the tests import an equivalent image instead
# (tests/cli/kubernetes.rs, helper_image).
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

FROM docker.io/library/debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates openssh-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 65532 --user-group --no-create-home --home-dir /var/cache/promised promised
COPY --from=build /src/target/release/promised /usr/local/bin/promised
# ssh needs a user entry for the uid it runs as; deploy/ runs the daemon as this one.
USER 65532:65532
ENTRYPOINT ["promised"]
