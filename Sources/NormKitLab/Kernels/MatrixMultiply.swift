/// A blocked, packed, SIMD matrix multiply: C = op(A) · op(B), or C += op(A) · op(B).
///
/// All matrices are row-major. C is m × n (leading dimension n), op(A) is m × k and op(B) is
/// k × n; `transposeA` means A is stored k × m, `transposeB` that B is stored n × k.
///
/// The structure is the classic one (Goto & van de Geijn, "Anatomy of high-performance matrix
/// multiplication", ACM TOMS 2008): the product is cut into blocks of at most `nc` columns of C
/// and `kc` of the inner dimension, so that a packed block of B stays in the L2 cache; each block
/// of A (at most `mc` rows) is packed into panels of `mr` rows; a micro-kernel then keeps an
/// `mr` × `nr` tile of C in SIMD registers for the whole inner loop. Packing absorbs the
/// transposes and zero-pads the edges, so the micro-kernel has no branches. It is generic, and
/// is compiled only specialized for `Float` and `Double` (see ``LabScalar``).
enum MatrixMultiply {
    /// Rows of the register tile.
    static let mr = 4
    /// Columns of the register tile: one `SIMD8`.
    static let nr = 8
    /// The inner-dimension block.
    static let kc = 256
    /// Rows of C per packed block of A (a multiple of `mr`).
    static let mc = 64
    /// Columns of C per packed block of B (a multiple of `nr`).
    static let nc = 1024

    /// C = op(A)·op(B) (or C += it, with `accumulate`), on arrays: A is m × k (k × m when
    /// transposed), B is k × n (n × k when transposed), C is m × n, all row-major.
    static func product<S: LabScalar>(
        _ a: [S], transposeA: Bool = false, _ b: [S], transposeB: Bool = false, m: Int, n: Int, k: Int,
        into c: inout [S], accumulate: Bool = false
    ) {
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    product(m: m, n: n, k: k, a: a.baseAddress, transposeA: transposeA, b: b.baseAddress, transposeB: transposeB,
                            c: c.baseAddress, accumulate: accumulate)
                }
            }
        }
    }

    /// op(A)·op(B) as a new m × n array (see ``product(_:transposeA:_:transposeB:m:n:k:into:accumulate:)``).
    static func product<S: LabScalar>(
        _ a: [S], transposeA: Bool = false, _ b: [S], transposeB: Bool = false, m: Int, n: Int, k: Int
    ) -> [S] {
        var c = [S](repeating: 0, count: m * n)
        product(a, transposeA: transposeA, b, transposeB: transposeB, m: m, n: n, k: k, into: &c)
        return c
    }

    static func product<S: LabScalar>(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<S>?, transposeA: Bool,
        b: UnsafePointer<S>?, transposeB: Bool,
        c: UnsafeMutablePointer<S>?, accumulate: Bool
    ) {
        guard m > 0, n > 0, let c else { return }
        guard k > 0, let a, let b else {
            if !accumulate { c.update(repeating: 0, count: m * n) }
            return
        }
        let packedA = UnsafeMutablePointer<S>.allocate(capacity: mc * min(kc, k))
        let packedB = UnsafeMutablePointer<S>.allocate(capacity: min(kc, k) * roundUp(min(nc, n), nr))
        defer {
            packedA.deallocate()
            packedB.deallocate()
        }
        var jc = 0
        while jc < n {
            let columns = min(nc, n - jc)
            var pc = 0
            while pc < k {
                let depth = min(kc, k - pc)
                packPanels(b, lineStride: transposeB ? k : 1, depthStride: transposeB ? 1 : n, firstLine: jc, count: columns,
                           firstDepth: pc, depth: depth, size: nr, into: packedB)
                var ic = 0
                while ic < m {
                    let rows = min(mc, m - ic)
                    packPanels(a, lineStride: transposeA ? 1 : k, depthStride: transposeA ? m : 1, firstLine: ic, count: rows,
                               firstDepth: pc, depth: depth, size: mr, into: packedA)
                    let addTo = accumulate || pc > 0
                    var jr = 0
                    while jr < columns {
                        var ir = 0
                        while ir < rows {
                            microKernel(depth, packedA + ir * depth, packedB + jr * depth,
                                        c + (ic + ir) * n + jc + jr, ldc: n,
                                        rows: min(mr, rows - ir), columns: min(nr, columns - jr), accumulate: addTo)
                            ir += mr
                        }
                        jr += nr
                    }
                    ic += rows
                }
                pc += depth
            }
            jc += columns
        }
    }

    @inline(__always)
    static func roundUp(_ value: Int, _ multiple: Int) -> Int { (value + multiple - 1) / multiple * multiple }

    /// Packs `count` lines from `firstLine` on, over depths `firstDepth ..< firstDepth + depth`,
    /// into panels of `size` lines: panel i holds (line l, depth p) at `i·size·depth + p·size + l`,
    /// zero-padded. Element (l, p) of the source is at `x + l·lineStride + p·depthStride`: rows of
    /// op(A) are the lines of A's panels (`mr`), columns of op(B) those of B's (`nr`).
    @inline(__always)
    static func packPanels<S: LabScalar>(
        _ x: UnsafePointer<S>, lineStride: Int, depthStride: Int, firstLine: Int, count: Int, firstDepth: Int, depth: Int,
        size: Int, into packed: UnsafeMutablePointer<S>
    ) {
        var panel = 0
        while panel < count {
            let lines = min(size, count - panel)
            let destination = packed + panel * depth
            if lines < size { destination.update(repeating: 0, count: size * depth) }
            let origin = x + (firstLine + panel) * lineStride + firstDepth * depthStride
            if lineStride == 1 {
                // A panel's lines are consecutive at each depth: one copy per depth.
                for p in 0..<depth { (destination + p * size).update(from: origin + p * depthStride, count: lines) }
            } else {
                for l in 0..<lines {
                    let source = origin + l * lineStride
                    for p in 0..<depth { destination[p * size + l] = source[p * depthStride] }
                }
            }
            panel += size
        }
    }

    /// C[0..<rows, 0..<columns] (+)= the product of an `mr`-row panel of A and an `nr`-column
    /// panel of B over `depth`, kept in four `SIMD8` accumulators.
    @inline(__always)
    static func microKernel<S: LabScalar>(
        _ depth: Int, _ a: UnsafePointer<S>, _ b: UnsafePointer<S>, _ c: UnsafeMutablePointer<S>, ldc: Int,
        rows: Int, columns: Int, accumulate: Bool
    ) {
        var c0 = SIMD8<S>(), c1 = SIMD8<S>(), c2 = SIMD8<S>(), c3 = SIMD8<S>()
        var a = a, b = b
        for _ in 0..<depth {
            let bv = UnsafeRawPointer(b).loadUnaligned(as: SIMD8<S>.self)
            c0 += bv * a[0]
            c1 += bv * a[1]
            c2 += bv * a[2]
            c3 += bv * a[3]
            a += mr
            b += nr
        }
        if columns == nr {
            @inline(__always) func store(_ tile: SIMD8<S>, row: Int) {
                let target = UnsafeMutableRawPointer(c + row * ldc)
                let value = accumulate ? target.loadUnaligned(as: SIMD8<S>.self) + tile : tile
                target.storeBytes(of: value, as: SIMD8<S>.self)
            }
            store(c0, row: 0)
            if rows > 1 { store(c1, row: 1) }
            if rows > 2 { store(c2, row: 2) }
            if rows > 3 { store(c3, row: 3) }
        } else {
            let tiles = [c0, c1, c2, c3]
            for r in 0..<rows {
                for j in 0..<columns {
                    c[r * ldc + j] = accumulate ? c[r * ldc + j] + tiles[r][j] : tiles[r][j]
                }
            }
        }
    }
}
