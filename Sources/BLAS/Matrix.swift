import COpenBLAS

/// Single-precision matrix products on OpenBLAS. Matrices are row-major throughout this module.
package enum BLAS {
    /// `C ← alpha · op(A) · op(B) + beta · C`, where op transposes when asked.
    ///
    /// - Parameters:
    ///   - m: rows of op(A) and of C; n: columns of op(B) and of C; k: columns of op(A), rows of op(B).
    /// - Precondition: the buffers hold at least m·k, k·n and m·n elements (checked; a violation is a
    ///   programmer error and traps).
    ///
    /// The corresponding C function is `cblas_sgemm`.
    package static func sgemm(
        transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafeBufferPointer<Float>, b: UnsafeBufferPointer<Float>,
        beta: Float = 0, c: UnsafeMutableBufferPointer<Float>
    ) {
        precondition(a.count >= m * k && b.count >= k * n && c.count >= m * n, "sgemm: buffer smaller than its shape")
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a.baseAddress, Int32(transposeA ? m : k),
            b.baseAddress, Int32(transposeB ? k : n), beta, c.baseAddress, Int32(n))
    }

    /// Limits OpenBLAS's own thread pool; results are deterministic for a given thread count.
    ///
    /// The corresponding C function is `openblas_set_num_threads`.
    package static func setThreadCount(_ count: Int) { openblas_set_num_threads(Int32(count)) }
}
