import ArgumentParser
import NormKit

/// `normkit`: the subcommands, `--version` and `--help`. There is no default subcommand, so an
/// unknown word gets this command's usage (listing the subcommands), not `demo`'s.
@main
struct NormKitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "normkit",
        abstract: "Normalization layers that match PyTorch, from Swift.",
        version: NormKitVersion.string,
        subcommands: [Demo.self, Lab.self, Bench.self]
    )
}
