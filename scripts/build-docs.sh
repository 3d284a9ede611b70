#!/usr/bin/env bash
# Builds the DocC documentation of the NormKit library (Sources/NormKit/NormKit.docc and every
# doc comment) with swift-docc-plugin, treating every DocC warning as an error: a symbol link
# that does not resolve (``NoSuchSymbol``), a documented parameter the function does not have,
# a broken <doc:Article> link. CI runs it after `swift test`.
#
#   scripts/build-docs.sh                 # the archive lands in .build/plugins/Swift-DocC/outputs/
#
# Needs only the toolchain (docc ships with it) and the swift-docc-plugin package dependency.
set -euo pipefail
cd "$(dirname "$0")/.."

swift package generate-documentation --target NormKit --warnings-as-errors "$@"
