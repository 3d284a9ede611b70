/// NormKit's semantic version: the one `normkit --version` prints and `CHANGELOG.md` records.
/// It changes with every tagged release.
public enum NormKitVersion {
    public static let major = 0
    public static let minor = 2
    public static let patch = 0

    /// `"major.minor.patch"`, e.g. `"0.2.0"`.
    public static var string: String { "\(major).\(minor).\(patch)" }
}
