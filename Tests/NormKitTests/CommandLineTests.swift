import ArgumentParser
import Testing
@testable import normkit
import NormKit

/// `normkit`'s own surface: the version, and what an unknown subcommand gets.
@Suite struct CommandLineTests {
    @Test func versionIsTheLibrarys() throws {
        #expect(NormKitVersion.string == "\(NormKitVersion.major).\(NormKitVersion.minor).\(NormKitVersion.patch)")
        #expect(NormKitCommand.configuration.version == NormKitVersion.string)
        do {
            _ = try NormKitCommand.parseAsRoot(["--version"])
            Issue.record("--version did not exit")
        } catch {
            #expect(NormKitCommand.message(for: error) == NormKitVersion.string)
            #expect(NormKitCommand.exitCode(for: error) == .success)
        }
    }

    @Test func anUnknownSubcommandGetsTheTopLevelUsage() {
        do {
            _ = try NormKitCommand.parseAsRoot(["benchmark"])
            Issue.record("an unknown subcommand parsed")
        } catch {
            let text = NormKitCommand.fullMessage(for: error)
            #expect(text.contains("Unexpected argument 'benchmark'"), "\(text)")
            #expect(text.contains("Usage: normkit <subcommand>"), "\(text)")
            #expect(!text.contains("normkit demo"), "\(text)")
            #expect(NormKitCommand.exitCode(for: error) != .success)
        }
        #expect(NormKitCommand.helpMessage().contains("demo"))
        #expect((try? NormKitCommand.parseAsRoot(["demo"])) is Demo)
    }
}
