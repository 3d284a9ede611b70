import Testing
@testable import NormKit
@Test func smoke() throws { let bn = BatchNorm2d<Float>(numFeatures: 2); _ = bn }
