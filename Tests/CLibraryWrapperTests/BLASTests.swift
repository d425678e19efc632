import BLAS
import Testing

@Suite struct BLASTests {
    @Test func multipliesRowMajorMatrices() {
        let a: [Float] = [1, 2, 3, 4]
        let b: [Float] = [5, 6, 7, 8]
        var c = [Float](repeating: 0, count: 4)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in BLAS.sgemm(m: 2, n: 2, k: 2, a: a, b: b, c: c) }
            }
        }
        #expect(c == [19, 22, 43, 50])
    }

    @Test func transposesOnRequest() {
        // A is 3×2 stored row-major; op(A) = Aᵀ is 2×3. B is 3×1.
        let a: [Float] = [1, 4, 2, 5, 3, 6]
        let b: [Float] = [1, 1, 1]
        var c = [Float](repeating: 0, count: 2)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    BLAS.sgemm(transposeA: true, m: 2, n: 1, k: 3, a: a, b: b, c: c)
                }
            }
        }
        #expect(c == [6, 15])
    }
}
