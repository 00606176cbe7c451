#!/bin/sh
# Copies the example platform into a new Git repository and runs one reconcile pass.
#
#   examples/quickstart.sh [TARGET]
#
# TARGET defaults to a new temporary folder. The binary is $PROMISED if set, else it is
# built and run with cargo.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
target=${1:-$(mktemp -d)/platform}
if [ -z "${PROMISED:-}" ]; then
  cargo build --quiet --release --manifest-path "$here/../Cargo.toml"
  PROMISED="$here/../target/release/promised"
fi

mkdir -p "$target"
cp -R "$here/platform/." "$target/"
cd "$target"
git init -q -b main
git add -A
git -c user.name=Developer -c user.email=dev@example.com commit -q -m "Add the example platform"

"$PROMISED" reconcile --repo .

echo
echo "Reconciled $target; its state/ and status/ folders now hold:"
git ls-tree -r --name-only HEAD -- state status
