import Foundation
import PBRCore

/// A user name and password (or token) for one registry host.
package struct Credentials: Sendable, Equatable {
    package var username: String
    package var password: String

    package init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    /// `Basic <base64(user:password)>`.
    var basicAuthorization: String { "Basic " + Data((username + ":" + password).utf8).base64EncodedString() }

    /// The credentials for `host` from the files docker, podman and skopeo write: `$REGISTRY_AUTH_FILE`, else
    /// `$XDG_RUNTIME_DIR/containers/auth.json`, else `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`. An
    /// entry is `auths[host].auth` = base64 of `user:password` (or `username`/`password` members). Credential helpers
    /// (`credsStore`) are not run. Nil when no file names the host.
    package static func find(for host: String, environment: [String: String]) throws(RegistryError) -> Credentials? {
        var files: [String] = []
        if let file = environment["REGISTRY_AUTH_FILE"], !file.isEmpty {
            files.append(file)
        } else {
            if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty {
                files.append(runtime + "/containers/auth.json")
            }
            let home = environment["HOME"] ?? NSHomeDirectory()
            files.append(
                (environment["DOCKER_CONFIG"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.docker") + "/config.json")
        }
        for file in files where FileManager.default.fileExists(atPath: file) {
            if let found = try read(file, host: host) { return found }
        }
        return nil
    }

    static func read(_ file: String, host: String) throws(RegistryError) -> Credentials? {
        let value: JSONValue
        do {
            value = try StrictJSONParser.parse(try FileSystem.read(file))
        } catch {
            throw RegistryError(.credentials, "\(file) is not a readable credentials file: \(error)")
        }
        guard case .object(let auths)? = value["auths"] else { return nil }
        // docker writes `https://index.docker.io/v1/` style keys for some hosts; match on the host part too.
        let entry = auths.first { member in
            let key = member.key
            var bare = Substring(key)
            for scheme in ["https://", "http://"] where bare.hasPrefix(scheme) { bare = bare.dropFirst(scheme.count) }
            return key == host || bare.split(separator: "/").first.map(String.init) == host
        }
        guard let entry else { return nil }
        if let username = entry.value["username"]?.stringValue, let password = entry.value["password"]?.stringValue {
            return Credentials(username: username, password: password)
        }
        guard let encoded = entry.value["auth"]?.stringValue else { return nil }
        guard let data = Data(base64Encoded: encoded), let text = String(data: data, encoding: .utf8),
            let colon = text.firstIndex(of: ":")
        else {
            throw RegistryError(.credentials, "\(file): the auth of \(entry.key) is not base64 of user:password")
        }
        return Credentials(username: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
    }
}

/// One challenge of a `WWW-Authenticate` header: `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
package struct AuthChallenge: Sendable, Equatable {
    package var scheme: String
    package var parameters: [String: String]

    package init(scheme: String, parameters: [String: String]) {
        self.scheme = scheme
        self.parameters = parameters
    }

    /// The challenges of a header value (RFC 9110 §11.6.1: `scheme param=value, param="quoted"`, several
    /// challenges separated by commas).
    package static func parse(_ header: String) -> [AuthChallenge] {
        var challenges: [AuthChallenge] = []
        let characters = Array(header)
        var index = 0
        func skipSpaces() {
            while index < characters.count, characters[index] == " " || characters[index] == "," { index += 1 }
        }
        func token() -> String {
            let start = index
            while index < characters.count, !" =,\"".contains(characters[index]) { index += 1 }
            return String(characters[start..<index])
        }
        while index < characters.count {
            skipSpaces()
            let word = token()
            guard !word.isEmpty else { break }
            if index < characters.count, characters[index] == "=" {
                // A parameter of the current challenge.
                index += 1
                var value = ""
                if index < characters.count, characters[index] == "\"" {
                    index += 1
                    while index < characters.count, characters[index] != "\"" {
                        if characters[index] == "\\", index + 1 < characters.count { index += 1 }
                        value.append(characters[index])
                        index += 1
                    }
                    index += 1
                } else {
                    value = token()
                }
                if !challenges.isEmpty { challenges[challenges.count - 1].parameters[word.lowercased()] = value }
            } else {
                challenges.append(AuthChallenge(scheme: word.lowercased(), parameters: [:]))
            }
        }
        return challenges
    }
}
