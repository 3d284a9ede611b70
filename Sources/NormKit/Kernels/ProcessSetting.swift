import Foundation

/// A process-wide setting that any thread may read or change at any time, such as
/// ``Parallelism/threadCount``, and that tests change for the length of a closure.
final class ProcessSetting<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    private let normalized: @Sendable (Value) -> Value

    /// `normalized` maps every value set, the first included, to the one stored (a lower bound,
    /// say).
    init(_ initial: Value, normalized: @escaping @Sendable (Value) -> Value = { $0 }) {
        self.normalized = normalized
        stored = normalized(initial)
    }

    var value: Value {
        get { lock.withLock { stored } }
        set {
            let value = normalized(newValue)
            lock.withLock { stored = value }
        }
    }

    /// Runs `body` with the setting changed to `value`, then restores it. The change is
    /// process-wide: calls on other threads meanwhile see it too.
    func with<R>(_ value: Value, _ body: () throws -> R) rethrows -> R {
        let previous = self.value
        self.value = value
        defer { self.value = previous }
        return try body()
    }
}
