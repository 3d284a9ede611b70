import ArgumentParser
import NormKit

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Walk through BatchNorm2d's classic example, then compare the other normalizations.")
    func run() throws { print("todo") }
}
