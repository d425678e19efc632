/// Compares names the way people count: digit runs by value, the rest byte-wise, so that "layers.2" comes before
/// "layers.10" and "dense_9" before "dense_10".
public func naturallyPrecedes(_ a: String, _ b: String) -> Bool {
    var left = Array(a.utf8)[...]
    var right = Array(b.utf8)[...]
    func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
    while let x = left.first, let y = right.first {
        if isDigit(x) && isDigit(y) {
            let leftDigits = left.prefix(while: isDigit)
            let rightDigits = right.prefix(while: isDigit)
            let leftValue = leftDigits.drop { $0 == 0x30 }
            let rightValue = rightDigits.drop { $0 == 0x30 }
            if leftValue.count != rightValue.count { return leftValue.count < rightValue.count }
            if !leftValue.elementsEqual(rightValue) { return leftValue.lexicographicallyPrecedes(rightValue) }
            if leftDigits.count != rightDigits.count { return leftDigits.count < rightDigits.count }
            left = left.dropFirst(leftDigits.count)
            right = right.dropFirst(rightDigits.count)
        } else {
            if x != y { return x < y }
            left = left.dropFirst()
            right = right.dropFirst()
        }
    }
    return left.isEmpty && !right.isEmpty
}
