// The libFuzzer entry point for NormKit's safetensors reader; scripts/fuzz-safetensors.sh
// compiles it together with NormKit's sources into one executable. Not part of the package.
import Foundation

/// Decodes the input. A valid file must also write back to bytes that decode to the same
/// tensors, and loading its tensors into a layer must either succeed or throw a `NormError`.
/// Anything else (a trap, an out-of-bounds read, another error type) is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = start.map { Data(bytes: $0, count: count) } ?? Data()
    let file: SafeTensors
    do {
        file = try SafeTensors(data: data)
    } catch NormError.invalidSafeTensors {
        return 0
    } catch {
        fatalError("unexpected error type: \(error)")
    }
    do {
        let again = try SafeTensors(data: file.serialized())
        // NaN payloads compare unequal; compare the re-serialized bytes instead.
        guard try again.serialized() == file.serialized() else { fatalError("a valid file does not round-trip") }
        let layer = BatchNorm1d<Float>(numFeatures: 2)
        _ = try? layer.loadStateDict(file.tensors, strict: false)
    } catch {
        fatalError("a decoded file failed to serialize: \(error)")
    }
    return 0
}
