import Foundation

/// A progress bar with an ETA on standard error, safe to advance from several threads.
///
/// On a terminal it redraws one line in place:
///
///     [██████████░░░░░░░░░░]  48%  43/90 epochs · 0:31 elapsed · ETA 0:34 · GroupNorm b=8 seed 1
///
/// Elsewhere (a pipe, a CI log) it prints a plain line at most every 10% of the work.
public final class ProgressBar: @unchecked Sendable {
    private let lock = NSLock()
    private let total: Int
    private let unit: String
    private var done = 0
    private var label = ""
    private let start = Date()
    private let interactive: Bool
    private var lastPrintedDecile = -1
    private let write: @Sendable (String) -> Void

    /// - Parameters:
    ///   - total: the number of ticks the work takes.
    ///   - interactive: redraw in place; by default, whether standard error is a terminal.
    ///   - write: where the text goes; by default, standard error.
    public init(total: Int, unit: String = "epochs", interactive: Bool? = nil,
                write: (@Sendable (String) -> Void)? = nil) {
        self.total = max(total, 1)
        self.unit = unit
        self.interactive = interactive ?? (isatty(2) != 0)
        self.write = write ?? { FileHandle.standardError.write(Data($0.utf8)) }
    }

    /// Names the work in progress (shown after the ETA).
    public func setLabel(_ text: String) {
        lock.lock()
        label = text
        lock.unlock()
    }

    /// One tick done.
    public func advance(by ticks: Int = 1) {
        lock.lock()
        done = min(done + ticks, total)
        let line = render()
        let decile = done * 10 / total
        let show = interactive || decile > lastPrintedDecile
        if show { lastPrintedDecile = decile }
        lock.unlock()
        if show { write(interactive ? "\r\u{1B}[2K" + line : line + "\n") }
    }

    /// Ends the bar's line (on a terminal).
    public func finish() {
        if interactive { write("\n") }
    }

    private func render() -> String {
        let fraction = Double(done) / Double(total)
        let width = 24
        let filled = Int((fraction * Double(width)).rounded(.down))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let elapsed = Date().timeIntervalSince(start)
        let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : nil
        let percent = String(Int((fraction * 100).rounded(.down)))
        return "[\(bar)] \(String(repeating: " ", count: max(0, 3 - percent.count)))\(percent)%  \(done)/\(total) \(unit) · "
            + "\(Self.clock(elapsed)) elapsed · ETA \(eta.map(Self.clock) ?? "--:--")"
            + (label.isEmpty || done == total ? "" : " · \(label)")
    }

    /// m:ss, or h:mm:ss.
    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return s >= 3600 ? "\(s / 3600):\(two(s / 60 % 60)):\(two(s % 60))" : "\(s / 60):\(two(s % 60))"
    }
}
