#!/usr/bin/env bash
# Builds a scratch package from the README's Installation section, as a new user would: the
# manifest exactly as written, with the placeholder URL replaced by a copy of this checkout (named
# NormKit, so that `package: "NormKit"` resolves). With Open MPI installed, builds it again with the
# README's `traits: ["MPI"]` dependency line and the NormKitMPI product. The version requirement
# (`from: "0.2.0"`) is the one thing not checked: a path dependency has none.
#
# Environment: README_CHECK_DIR (scratch folder, default a fresh mktemp -d; removed afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
url='https://github.com/normkit/NormKit'
work="${README_CHECK_DIR:-$(mktemp -d)}"
trap 'rm -rf "$work"' EXIT

# The fenced swift blocks of the Installation section, one file each.
awk -v out="$work/block" '
    /^## / { inside = ($0 == "## Installation") }
    inside && /^ *```swift/ { n++; file = out n; capture = 1; next }
    capture && /^ *```/ { capture = 0; next }
    capture { sub(/^  /, ""); print > file }
' README.md
[ -f "$work/block1" ] && [ -f "$work/block2" ] || { echo "check-readme-install: Installation snippets not found" >&2; exit 1; }

mkdir -p "$work/NormKit"
tar -C "$repo" --exclude='./.build*' --exclude=./.swiftpm --exclude=./.git -cf - . | tar -C "$work/NormKit" -xf -

build() {  # $1: manifest, $2: source
    rm -rf "$work/app" && mkdir -p "$work/app/Sources/MyModel"
    # A path dependency has no version: `url: …, from: "0.2.0"` becomes `path: …`.
    sed "s#url: \"$url\", from: \"[^\"]*\"#path: \"$work/NormKit\"#" "$1" > "$work/app/Package.swift"
    cp "$2" "$work/app/Sources/MyModel/MyModel.swift"
    (cd "$work/app" && swift build)
}

cat > "$work/model.swift" <<'SWIFT'
import NormKit
public func makeLayer() -> BatchNorm2d<Float> { BatchNorm2d(numFeatures: 2) }
public func version() -> String { NormKitVersion.string }
SWIFT
grep -q "url: \"$url\"" "$work/block1" || { echo "check-readme-install: no .package(url:) line" >&2; exit 1; }
build "$work/block1" "$work/model.swift"
echo "check-readme-install: the Installation manifest builds"

if command -v pkg-config >/dev/null && pkg-config --exists ompi; then
    trait_line="$(grep -F 'traits: ["MPI"]' "$work/block2")"
    mpi_product="$(grep -F 'NormKitMPI' "$work/block2")"
    awk -v dep="$trait_line" -v product="$mpi_product" '
        /\.package\(url:/ { print dep; next }
        { print }
        /\.product\(name: "NormKit", package: "NormKit"\)/ { print product }
    ' "$work/block1" > "$work/mpi-manifest"
    printf 'import NormKit\nimport NormKitMPI\npublic func world() throws -> MPIProcessGroup { try MPIProcessGroup.world() }\n' > "$work/mpi.swift"
    build "$work/mpi-manifest" "$work/mpi.swift"
    echo "check-readme-install: the manifest with traits: [\"MPI\"] builds"
else
    echo "check-readme-install: Open MPI not found; skipped the MPI trait line"
fi
