import Foundation
import PBRCore

/// Any bytes through the strict JSON parser. Accepted means it parsed; then its compact form must parse to the same
/// value, and Foundation's parser (a second, independent implementation) must accept it too: what pbrepo accepts,
/// the Python and Foundation readers of the same files must be able to read.
enum JSONHarness {
    static func run(_ input: UnsafeRawBufferPointer) { _ = outcome(input) }

    static func outcome(_ input: UnsafeRawBufferPointer) -> FuzzOutcome {
        let value: JSONValue
        do {
            value = try StrictJSONParser.parse(input)
        } catch {
            return .refused("\(error)")
        }
        let text = Array(value.serialized.utf8)
        do {
            let again = try StrictJSONParser.parse(text)
            expect(again == value, "the compact form parses to another value")
        } catch {
            expect(false, "the compact form of an accepted value is refused: \(error)")
        }
        let foundation = try? JSONSerialization.jsonObject(with: Data(text), options: [.fragmentsAllowed])
        expect(foundation != nil, "Foundation refuses what the strict parser accepted")
        return .accepted
    }
}
