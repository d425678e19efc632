import BLAS

/// A dense single-precision matrix, row-major: a mini-batch is one sample per row.
package struct Matrix: Sendable, Equatable {
    package var rows: Int
    package var columns: Int
    package var values: [Float]

    package init(rows: Int, columns: Int, repeating value: Float = 0) {
        precondition(rows >= 0 && columns >= 0, "negative matrix shape")
        self.rows = rows
        self.columns = columns
        values = [Float](repeating: value, count: rows * columns)
    }

    package init(rows: Int, columns: Int, values: [Float]) {
        precondition(values.count == rows * columns, "\(values.count) values for a \(rows)×\(columns) matrix")
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    /// One row per sample.
    package init(stacking rows: [[Float]]) {
        let width = rows.first?.count ?? 0
        precondition(rows.allSatisfy { $0.count == width }, "rows of different lengths")
        self.init(rows: rows.count, columns: width, values: rows.flatMap { $0 })
    }

    package subscript(row: Int, column: Int) -> Float {
        get { values[row * columns + column] }
        set { values[row * columns + column] = newValue }
    }

    package func row(_ index: Int) -> [Float] { Array(values[(index * columns)..<((index + 1) * columns)]) }

    /// op(a) · op(b) on OpenBLAS.
    package static func product(_ a: Matrix, _ b: Matrix, transposeA: Bool = false, transposeB: Bool = false) -> Matrix
    {
        let (m, k) = transposeA ? (a.columns, a.rows) : (a.rows, a.columns)
        let (k2, n) = transposeB ? (b.columns, b.rows) : (b.rows, b.columns)
        precondition(k == k2, "product of \(m)×\(k) and \(k2)×\(n)")
        var c = Matrix(rows: m, columns: n)
        guard m > 0, n > 0 else { return c }
        if k == 0 { return c }
        a.values.withUnsafeBufferPointer { a in
            b.values.withUnsafeBufferPointer { b in
                c.values.withUnsafeMutableBufferPointer { c in
                    BLAS.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, b: b, c: c)
                }
            }
        }
        return c
    }

    /// Adds `vector` (1 × columns) to every row.
    package func addingRow(_ vector: Matrix) -> Matrix {
        precondition(
            vector.rows == 1 && vector.columns == columns, "row vector of \(vector.columns) for \(columns) columns")
        var result = self
        for r in 0..<rows {
            for c in 0..<columns { result.values[r * columns + c] += vector.values[c] }
        }
        return result
    }

    /// 1 × columns: the sum of the rows.
    package func columnSums() -> Matrix {
        var sums = Matrix(rows: 1, columns: columns)
        for r in 0..<rows {
            for c in 0..<columns { sums.values[c] += values[r * columns + c] }
        }
        return sums
    }

    package func map(_ transform: (Float) -> Float) -> Matrix {
        Matrix(rows: rows, columns: columns, values: values.map(transform))
    }

    package static func + (a: Matrix, b: Matrix) -> Matrix { a.zipped(b, +) }
    package static func - (a: Matrix, b: Matrix) -> Matrix { a.zipped(b, -) }
    /// Elementwise product.
    package static func * (a: Matrix, b: Matrix) -> Matrix { a.zipped(b, *) }
    package static func * (scale: Float, a: Matrix) -> Matrix { a.map { scale * $0 } }

    func zipped(_ other: Matrix, _ combine: (Float, Float) -> Float) -> Matrix {
        precondition(
            rows == other.rows && columns == other.columns,
            "shapes \(rows)×\(columns) and \(other.rows)×\(other.columns)")
        return Matrix(rows: rows, columns: columns, values: zip(values, other.values).map(combine))
    }

    /// Columns `range` of every row.
    package func columns(_ range: Range<Int>) -> Matrix {
        var result = Matrix(rows: rows, columns: range.count)
        for r in 0..<rows {
            for (offset, c) in range.enumerated() { result.values[r * range.count + offset] = values[r * columns + c] }
        }
        return result
    }

    /// Side by side: every row of `a` followed by the same row of `b`.
    package static func concatenated(_ parts: [Matrix]) -> Matrix {
        let rows = parts.first?.rows ?? 0
        precondition(parts.allSatisfy { $0.rows == rows }, "concatenating matrices of different heights")
        let width = parts.reduce(0) { $0 + $1.columns }
        var result = Matrix(rows: rows, columns: width)
        for r in 0..<rows {
            var offset = 0
            for part in parts {
                for c in 0..<part.columns { result.values[r * width + offset + c] = part.values[r * part.columns + c] }
                offset += part.columns
            }
        }
        return result
    }

    /// Frobenius norm squared.
    package var squaredNorm: Float { values.reduce(0) { $0 + $1 * $1 } }
}
