import Foundation

extension Module {
    /// Writes ``typedStateDict()`` to a safetensors file at `url`, atomically: the file PyTorch
    /// reads with `safetensors.torch.load_file(path)` and `model.load_state_dict(…)`.
    ///
    /// ```swift
    /// try model.save(to: URL(fileURLWithPath: "model.safetensors"), metadata: ["step": "1000"])
    /// ```
    /// - Throws: the errors of ``SafeTensors/write(to:)``.
    public func save(to url: URL, metadata: [String: String] = [:]) throws {
        try SafeTensors(tensors: typedStateDict(), metadata: metadata).write(to: url)
    }

    /// Loads a safetensors file, such as one written by `safetensors.torch.save_file(
    /// model.state_dict(), path)`, with `loadStateDict(_:strict:)`: dtypes converted as PyTorch
    /// converts them, nothing changed when anything is wrong.
    ///
    /// ```swift
    /// let keys = try model.load(from: url, strict: false)
    /// print(keys.missingKeys, keys.unexpectedKeys)
    /// ```
    /// - Returns: the missing and unexpected keys; both empty after a strict load.
    /// - Throws: the errors of ``SafeTensors/init(contentsOf:)``, then those of
    ///   `loadStateDict(_:strict:)`.
    @discardableResult
    public func load(from url: URL, strict: Bool = true) throws -> IncompatibleKeys {
        try loadStateDict(SafeTensors(contentsOf: url).tensors, strict: strict)
    }
}
