import ArgumentParser

@main
struct NormKitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "normkit",
        abstract: "Normalization layers that match PyTorch, from Swift.",
        subcommands: [Demo.self, Lab.self],
        defaultSubcommand: Demo.self
    )
}
