import Foundation

/// The kernels' settings (instruction set, thread count, parallel threshold, streaming threshold)
/// are process-wide: a test that changes one changes it for every test running meanwhile, in
/// either test target (one process runs them all). Tests that change a setting, and tests that
/// compare two runs bit for bit (a different thread split merges partial sums in another order,
/// another instruction set rounds otherwise), take turns under this lock; the other tests see a
/// valid setting either way.
public enum KernelSettings {
    public static let lock = NSLock()
}
