/// Fixed-size framing for the collectives of synchronized layers, so that ranks which disagree
/// (on the channel count, the dtype, or because one of them failed its own input checks) all
/// throw instead of exchanging buffers of different lengths.
///
/// Every rank sends one frame of exactly ``frameLength`` `Double`s, whatever its layer's channel
/// count: a ``Header`` of ``headerLength`` values, then the payload, zero-padded. Because the frame
/// length is a constant, the collective itself is always well formed, even under MPI, where
/// mismatched counts are undefined behaviour. Each rank validates the headers before it reads any
/// payload, and every rank reaches the same verdict from the same data:
/// - all-gather: each rank sees every rank's header and names the first one that differs;
/// - all-reduce: the header carries each field q as (q, q²), the channel count digit by digit
///   (eight base-256 digits); the ranks agree on q exactly when size·Σq² = (Σq)²
///   (Cauchy–Schwarz). With q under 2¹¹ (the dtype tag, a digit) every term is an integer under
///   2⁵³ for up to 2¹⁵ ranks, so `Double` arithmetic decides it exactly.
///
/// A process group's results are checked too (their lengths, and header values that must be
/// integers): a ``ProcessGroup`` of the caller's own that returns something malformed makes the
/// call throw ``NormError/collectiveMismatch(operation:expected:actual:)``, never trap.
/// A payload longer than the frame's room (`frameLength − headerLength` = 250 values, that is more
/// than 125 channels for SyncBatchNorm) continues in a second collective, which every rank makes
/// only after the headers agreed, so its length is known to match.
enum SyncFraming {
    /// Doubles per frame: 2,160 bytes.
    static let frameLength = 270
    static let headerLength = 4 + 2 * channelDigits
    /// Base-256 digits of a channel count in a header.
    static let channelDigits = 8
    static var room: Int { frameLength - headerLength }

    /// What a rank says about itself in front of its payload.
    struct Header {
        /// `false` when the rank failed its local checks and sends no payload.
        var ok: Bool
        var rank: Int
        /// ``dtypeTag(_:)`` of the layer's scalar type.
        var dtype: Int
        var channels: Int

        /// (ok, failed rank + 1, dtype, dtype²), then each base-256 digit d of the channel count,
        /// lowest first, as (d, d²).
        var encoded: [Double] {
            [ok ? 1 : 0, ok ? 0 : Double(rank + 1), Double(dtype), Double(dtype * dtype)]
                + SyncFraming.digits(of: channels).flatMap { [Double($0), Double($0 * $0)] }
        }
    }

    /// The base-256 digits of a channel count (its bit pattern, for a negative one), lowest first.
    static func digits(of value: Int) -> [Int] {
        (0..<channelDigits).map { Int((UInt64(bitPattern: Int64(value)) >> (8 * $0)) & 0xFF) }
    }

    /// The channel count whose (digit, digit²) pairs, lowest digit first, are `fields`, each
    /// divided by `divisor` (the rank count, for all-reduced sums): approximate past 2⁵³.
    static func channels(digits fields: ArraySlice<Double>, divisor: Double = 1) -> Double {
        stride(from: fields.startIndex, to: fields.endIndex, by: 2).reversed().reduce(0.0) { $0 * 256 + fields[$1] / divisor }
    }

    /// The channel count that one rank's header `fields` (its digit pairs) spell exactly, or a
    /// description of them when they are not digits.
    static func describeChannels(digits fields: ArraySlice<Double>) -> String {
        let digits = stride(from: fields.startIndex, to: fields.endIndex, by: 2).map { integer(fields[$0]) }
        guard digits.allSatisfy({ $0.map { (0...255).contains($0) } ?? false }) else { return "\(Array(fields))" }
        return "\(Int64(bitPattern: digits.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1!) }))"
    }

    /// `value` as an `Int` when it is one exactly (a header field, a count), else `nil`.
    static func integer(_ value: Double) -> Int? {
        value.isFinite && value.rounded() == value && abs(value) < 0x1p63 ? Int(value) : nil
    }

    /// The error for a process group whose collective returned `actual` where `expected` was due.
    static func malformed(_ layer: String, _ operation: String, expected: String, actual: String) -> NormError {
        .collectiveMismatch(operation: "\(layer) \(operation)", expected: expected, actual: actual)
    }

    /// A tag that tells scalar types apart: 100 · exponent bits + significand bits
    /// (`Float` 823, `Double` 1152).
    static func dtypeTag<S: BinaryFloatingPoint>(_: S.Type) -> Int {
        S.exponentBitCount * 100 + S.significandBitCount
    }

    static func dtypeName(tag: Int) -> String {
        switch tag {
        case dtypeTag(Float.self): return "float32"
        case dtypeTag(Double.self): return "float64"
        default: return "a dtype with tag \(tag)"
        }
    }

    /// All-gathers `payload` (`nil` when this rank failed its own checks) and returns every rank's
    /// payload in rank order, or throws on every rank when any rank failed or disagrees.
    /// Payloads must have a length that is a function of the channel count alone.
    static func allGather(
        _ payload: [Double]?, header: Header, payloadLength: Int, layer: String, group: any ProcessGroup
    ) throws -> [[Double]] {
        let frame = framed(payload, header: header, payloadLength: payloadLength)
        let frames = try group.allGather(frame)
        guard frames.count == group.size * frameLength else {
            throw NormError.collectiveMismatch(operation: "\(layer) all-gather",
                                               expected: "\(group.size * frameLength) values",
                                               actual: "\(frames.count)")
        }
        let headers = (0..<group.size).map { Array(frames[$0 * frameLength..<$0 * frameLength + headerLength]) }
        let failed = headers.indices.filter { headers[$0][0] != 1 }
        if !failed.isEmpty {
            throw NormError.peerRankFailed(layer: layer, rank: failed.count == 1 ? failed[0] : nil)
        }
        for (rank, other) in headers.enumerated() {
            if integer(other[2]) != header.dtype {
                throw NormError.rankMismatch(layer: layer, field: "dtype", rank: rank, expected: dtypeName(tag: header.dtype),
                                             actual: integer(other[2]).map { dtypeName(tag: $0) } ?? "\(other[2])")
            }
            if other[4...] != header.encoded[4...] {
                throw NormError.rankMismatch(layer: layer, field: "num_features", rank: rank,
                                             expected: "\(header.channels)", actual: describeChannels(digits: other[4...]))
            }
        }
        let firstPart = min(payloadLength, room)
        var payloads = (0..<group.size).map {
            Array(frames[$0 * frameLength + headerLength..<$0 * frameLength + headerLength + firstPart])
        }
        if payloadLength > room, let payload {
            let rest = try group.allGather(Array(payload[room...]))
            let restLength = payloadLength - room
            guard rest.count == group.size * restLength else {
                throw malformed(layer, "all-gather", expected: "\(group.size * restLength) values", actual: "\(rest.count)")
            }
            for rank in payloads.indices { payloads[rank] += rest[rank * restLength..<(rank + 1) * restLength] }
        }
        return payloads
    }

    /// All-reduces (sums) `payload` (`nil` when this rank failed its own checks), or throws on
    /// every rank when any rank failed or the ranks disagree.
    static func allReduceSum(
        _ payload: [Double]?, header: Header, payloadLength: Int, layer: String, group: any ProcessGroup
    ) throws -> [Double] {
        var frame = framed(payload, header: header, payloadLength: payloadLength)
        try group.allReduceSum(&frame)
        guard frame.count == frameLength else {
            throw malformed(layer, "all-reduce", expected: "\(frameLength) values", actual: "\(frame.count)")
        }
        let size = Double(group.size)
        let okCount = frame[0]
        if okCount != size {
            let failedCount = size - okCount
            throw NormError.peerRankFailed(layer: layer, rank: failedCount == 1 ? integer(frame[1]).map { $0 - 1 } : nil)
        }
        func agree(_ field: Int) -> Bool { size * frame[field + 1] == frame[field] * frame[field] }
        if !agree(2) {
            throw NormError.collectiveMismatch(operation: "\(layer) all-reduce",
                                               expected: "dtype \(dtypeName(tag: header.dtype)) on every rank",
                                               actual: "different dtypes")
        }
        if !stride(from: 4, to: headerLength, by: 2).allSatisfy(agree) {
            throw NormError.collectiveMismatch(operation: "\(layer) all-reduce",
                                               expected: "num_features \(header.channels) on every rank",
                                               actual: "an average of \(channels(digits: frame[4..<headerLength], divisor: size))")
        }
        var sum = Array(frame[headerLength..<headerLength + min(payloadLength, room)])
        if payloadLength > room, let payload {
            let rest = try group.allReducedSum(Array(payload[room...]))
            guard rest.count == payloadLength - room else {
                throw malformed(layer, "all-reduce", expected: "\(payloadLength - room) values", actual: "\(rest.count)")
            }
            sum += rest
        }
        return sum
    }

    /// The collective a synchronized call makes, and that a failing rank must take part in.
    enum Collective {
        case allGather, allReduceSum
    }

    /// Takes part in `collective` with a frame whose header says that this rank failed its own
    /// checks (`header.ok == false`), so that every other rank stops with
    /// ``NormError/peerRankFailed(layer:rank:)`` instead of waiting. Does not look at the other
    /// frames: it throws only the process group's own errors (a timeout, a mismatch of the
    /// collectives themselves), which the caller must report beside its local error.
    static func reportFailure(header: Header, in collective: Collective, group: any ProcessGroup) throws {
        precondition(!header.ok, "reportFailure needs a failure header")
        var frame = framed(nil, header: header, payloadLength: 0)
        switch collective {
        case .allGather: _ = try group.allGather(frame)
        case .allReduceSum: try group.allReduceSum(&frame)
        }
    }

    /// The error a rank throws after failing its own checks with `local`: `local` itself once the
    /// other ranks were told (``reportFailure(header:in:group:)``), or, when telling them failed,
    /// ``NormError/unreportedLocalFailure(local:collective:)`` with both. A process group that
    /// throws something other than a ``NormError`` gets that error thrown as it is.
    static func failure(
        _ local: any Error, header: Header, in collective: Collective, group: any ProcessGroup
    ) -> any Error {
        do {
            try reportFailure(header: header, in: collective, group: group)
            return local
        } catch let groupError as NormError {
            guard let local = local as? NormError else { return local }
            return NormError.unreportedLocalFailure(local: local, collective: groupError)
        } catch {
            return error
        }
    }

    private static func framed(_ payload: [Double]?, header: Header, payloadLength: Int) -> [Double] {
        var frame = header.encoded
        frame.reserveCapacity(frameLength)
        if let payload {
            precondition(payload.count == payloadLength, "payload of \(payload.count) values, expected \(payloadLength)")
            frame += payload.prefix(room)
        }
        frame += repeatElement(0, count: frameLength - frame.count)
        return frame
    }
}
