import CHDF5
import Synchronization

/// Process-wide state of libhdf5: initialisation, error silencing and the one lock every call goes through.
///
/// Debian's build is thread-safe only through a global lock of its own; taking ours around each public operation
/// costs nothing more and keeps pbrepo correct on builds without it.
enum HDF5Library {
    private static let lock = Mutex<Bool>(false)

    /// Runs `body` holding the library lock, initialising the library on first use.
    static func locked<R>(_ body: () throws -> R) throws -> R {
        try lock.withLock { initialised in
            if !initialised {
                H5open()
                initialised = true
            }
            // Error stacks are per thread in thread-safe builds: silence the stack of whichever thread this is.
            chdf5_silence_errors()
            chdf5_clear_errors()
            return try body()
        }
    }

    /// The library's error stack, innermost message last, as one line; clears the stack.
    static func takeErrorText() -> String {
        final class Collected { var messages: [String] = [] }
        let collected = Collected()
        let sink: chdf5_error_sink = { _, description, context in
            guard let context, let description else { return }
            Unmanaged<Collected>.fromOpaque(context).takeUnretainedValue().messages.append(String(cString: description))
        }
        withExtendedLifetime(collected) {
            chdf5_walk_errors(sink, Unmanaged.passUnretained(collected).toOpaque())
        }
        chdf5_clear_errors()
        // The outermost frames say "unable to open file"; the innermost say why. Keep both ends, deduplicated.
        var seen = Set<String>()
        let unique = collected.messages.filter { seen.insert($0).inserted }
        return unique.isEmpty ? "libhdf5 reported a failure" : unique.suffix(3).joined(separator: ": ")
    }
}

/// An HDF5 identifier with exactly one owner, closed with the function that matches its kind.
struct OwnedID: ~Copyable {
    enum Kind { case file, group, dataset, datatype, dataspace, attribute, propertyList, object }
    let id: hid_t
    let kind: Kind

    init(_ id: hid_t, _ kind: Kind) {
        self.id = id
        self.kind = kind
    }

    deinit {
        guard id >= 0 else { return }
        switch kind {
        case .file: H5Fclose(id)
        case .group: H5Gclose(id)
        case .dataset: H5Dclose(id)
        case .datatype: H5Tclose(id)
        case .dataspace: H5Sclose(id)
        case .attribute: H5Aclose(id)
        case .propertyList: H5Pclose(id)
        case .object: H5Oclose(id)
        }
    }
}
