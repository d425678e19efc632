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
        body +=
            "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"\(dashed ? " stroke-dasharray=\"6 3\"" : "") points=\""
            + points.map { "\($0.x),\($0.y)" }.joined(separator: " ") + "\"/>\n"
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
