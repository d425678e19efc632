import Foundation

/// A 720 × 440 line chart in SVG: title, axes with tick labels, axis titles and a legend on the right; the plot area
/// is x ∈ [left, right], y ∈ [upper, lower] in pixels, and callers add their own lines, bands and markers.
package struct SVGChart: Sendable {
    package static let colours = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    ]
    package let left = 80.0, right = 540.0, upper = 40.0, lower = 380.0
    private var body = ""
    private var legendEntries = 0

    package init(title: String, xLabel: String, yLabel: String) {
        let (middleX, middleY) = ((left + right) / 2, (upper + lower) / 2)
        body += "<text x=\"360\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">\(Self.escaped(title))</text>\n"
        body += "<line x1=\"\(left)\" y1=\"\(lower)\" x2=\"\(right)\" y2=\"\(lower)\" stroke=\"black\"/>\n"
        body += "<line x1=\"\(left)\" y1=\"\(upper)\" x2=\"\(left)\" y2=\"\(lower)\" stroke=\"black\"/>\n"
        body +=
            "<text x=\"\(middleX)\" y=\"\(lower + 34)\" text-anchor=\"middle\" font-size=\"12\">\(Self.escaped(xLabel))</text>\n"
        body +=
            "<text x=\"18\" y=\"\(middleY)\" text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 18 \(middleY))\">\(Self.escaped(yLabel))</text>\n"
    }

    package static func colour(_ index: Int) -> String { colours[index % colours.count] }

    /// Dash patterns and marker shapes per series, so that series stay apart in grey print too.
    package static let dashes = ["", "6 3", "2 3", "9 3 2 3", "12 4", "4 2 1 2"]
    package enum Marker: CaseIterable, Sendable { case circle, square, triangle, diamond, cross, invertedTriangle }

    package static func dash(_ index: Int) -> String { dashes[index % dashes.count] }
    package static func marker(_ index: Int) -> Marker { Marker.allCases[index % Marker.allCases.count] }

    /// Round tick values (steps of 1, 2 or 5 × 10ᵏ) covering [low, high], about `count` of them.
    package static func niceTicks(_ low: Double, _ high: Double, count: Int = 5) -> [Double] {
        guard low.isFinite, high.isFinite else { return [] }
        guard high > low else { return [low] }
        let rough = (high - low) / Double(max(1, count - 1))
        let magnitude = pow(10, (log10(rough)).rounded(.down))
        // Heckbert's "nice numbers": the 1, 2 or 5 nearest the rough step, so that about `count` ticks result.
        let fraction = rough / magnitude
        let step = (fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10) * magnitude
        let first = (low / step).rounded(.up) * step
        return stride(from: first, through: high + step * 1e-9, by: step).map { abs($0) < step * 1e-9 ? 0 : $0 }
    }

    /// A tick value with as many decimals as the ticks' step needs (`0.25`, `5`, `1.2e+09` for large values).
    package static func tickLabel(_ value: Double, step: Double) -> String {
        if value != 0 && (abs(value) >= 1e6 || abs(value) < 1e-3) { return String(format: "%.3g", value) }
        let decimals = step > 0 ? max(0, Int((-log10(step)).rounded(.up))) : 0
        return String(format: "%.\(min(decimals, 6))f", value)
    }

    /// A marker of `shape` centred at a pixel.
    package mutating func marker(_ shape: Marker, x: Double, y: Double, colour: String) {
        let r = 4.0
        func polygon(_ points: [(Double, Double)]) -> String {
            "<polygon fill=\"\(colour)\" points=\"" + points.map { "\(x + $0.0),\(y + $0.1)" }.joined(separator: " ")
                + "\"/>"
        }
        switch shape {
        case .circle: body += "<circle cx=\"\(x)\" cy=\"\(y)\" r=\"\(r)\" fill=\"\(colour)\"/>\n"
        case .square: body += polygon([(-r, -r), (r, -r), (r, r), (-r, r)]) + "\n"
        case .triangle: body += polygon([(0, -r - 1), (r + 1, r), (-r - 1, r)]) + "\n"
        case .invertedTriangle: body += polygon([(0, r + 1), (r + 1, -r), (-r - 1, -r)]) + "\n"
        case .diamond: body += polygon([(0, -r - 1), (r + 1, 0), (0, r + 1), (-r - 1, 0)]) + "\n"
        case .cross:
            body +=
                "<path d=\"M\(x - r),\(y - r) L\(x + r),\(y + r) M\(x - r),\(y + r) L\(x + r),\(y - r)\" stroke=\"\(colour)\" stroke-width=\"2\"/>\n"
        }
    }

    /// A tick label under the x axis at pixel `x`.
    package mutating func xTick(_ x: Double, _ label: String) {
        body +=
            "<text x=\"\(x)\" y=\"\(lower + 16)\" text-anchor=\"middle\" font-size=\"11\">\(Self.escaped(label))</text>\n"
    }

    /// A tick label left of the y axis at pixel `y`.
    package mutating func yTick(_ y: Double, _ label: String) {
        body +=
            "<text x=\"\(left - 6)\" y=\"\(y + 4)\" text-anchor=\"end\" font-size=\"11\">\(Self.escaped(label))</text>\n"
    }

    /// A polyline through pixel points.
    package mutating func line(_ points: [(x: Double, y: Double)], colour: String, dashed: Bool = false) {
        line(points, colour: colour, dash: dashed ? "6 3" : "")
    }

    /// A polyline through pixel points with a dash pattern ("" for solid).
    package mutating func line(_ points: [(x: Double, y: Double)], colour: String, dash: String) {
        body +=
            "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"\(dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\"") points=\""
            + points.map { "\($0.x),\($0.y)" }.joined(separator: " ") + "\"/>\n"
    }

    /// The next legend entry drawn as the series is: its dash and its marker.
    package mutating func legend(_ label: String, colour: String, dash: String, marker shape: Marker?) {
        let y = 50 + 20 * Double(legendEntries)
        body +=
            "<line x1=\"552\" y1=\"\(y + 6)\" x2=\"578\" y2=\"\(y + 6)\" stroke=\"\(colour)\" stroke-width=\"2\"\(dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\"")/>"
        if let shape { marker(shape, x: 565, y: y + 6, colour: colour) }
        body += "<text x=\"584\" y=\"\(y + 11)\" font-size=\"12\">\(Self.escaped(label))</text>\n"
        legendEntries += 1
    }

    /// Any other SVG element, as text.
    package mutating func append(_ element: String) { body += element + "\n" }

    /// The next legend entry: a swatch in `colour` (a line when `dashed` matters) and its label.
    package mutating func legend(_ label: String, colour: String, dashed: Bool? = nil) {
        let y = 50 + 20 * Double(legendEntries)
        if let dashed {
            body +=
                "<line x1=\"555\" y1=\"\(y + 6)\" x2=\"575\" y2=\"\(y + 6)\" stroke=\"\(colour)\" stroke-width=\"2\"\(dashed ? " stroke-dasharray=\"6 3\"" : "")/>"
        } else {
            body += "<rect x=\"559\" y=\"\(y)\" width=\"12\" height=\"12\" fill=\"\(colour)\"/>"
        }
        body += "<text x=\"580\" y=\"\(y + 11)\" font-size=\"12\">\(Self.escaped(label))</text>\n"
        legendEntries += 1
    }

    package var text: String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" height=\"440\" font-family=\"sans-serif\">\n"
            + "<rect width=\"720\" height=\"440\" fill=\"white\"/>\n" + body + "</svg>\n"
    }

    static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
