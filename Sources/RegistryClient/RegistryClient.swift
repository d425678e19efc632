import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import OCI
import Synchronization

/// A client of one OCI distribution registry (or pbrepo edge node): the requests of the distribution spec that
/// push and pull need, with authentication (anonymous, Basic, the Bearer token flow), retries with backoff on 429
/// and 5xx honouring `Retry-After`, timeouts, and the checks a client owes the bytes it receives (sizes, digests,
/// ranges). Redirects are followed (at most 5, no cycles) and never carry credentials to another host.
package final class RegistryClient: Sendable {
    package struct Options: Sendable {
        /// `http://` instead of `https://` (a registry on loopback without TLS).
        package var plainHTTP = false
        package var credentials: Credentials?
        package var connectTimeout: Duration = .seconds(10)
        /// The longest wait for the next bytes of a response before it counts as stalled.
        package var readTimeout: Duration = .seconds(60)
        /// Tries per request when the registry answers 429 or 5xx or the connection fails.
        package var attempts = 4
        /// The first retry's delay; doubled for each further one (and `Retry-After` when the registry gives one).
        package var retryDelay: Duration = .milliseconds(250)
        /// The longest `Retry-After` honoured; a registry asking for longer fails the request.
        package var longestRetryAfter: Duration = .seconds(60)
        package var connectionsPerHost = 8
        /// Sent with every request (an edge node marks its requests to peers so that they do not go on to theirs).
        package var headers: [(name: String, value: String)] = []

        package init() {}
    }

    package let host: String
    package let options: Options
    let base: String
    let http: HTTPClient
    private let tokens = Mutex<[String: BearerToken]>([:])
    /// Set once the registry asked for Basic credentials: they go with every request from then on.
    private let sendsBasic = Atomic<Bool>(false)

    struct BearerToken {
        var value: String
        var expires: ContinuousClock.Instant
    }

    package init(host: String, options: Options = Options()) {
        self.host = host
        self.options = options
        base = (options.plainHTTP ? "http://" : "https://") + host
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .follow(max: 5, allowCycles: false),
            timeout: .init(
                connect: .nanoseconds(Int64(options.connectTimeout.components.seconds) * 1_000_000_000),
                read: .nanoseconds(Int64(options.readTimeout.components.seconds) * 1_000_000_000)))
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: options.connectionsPerHost)
        configuration.decompression = .disabled
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Closes the connections; the client cannot be used afterwards.
    package func shutdown() async {
        try? await http.shutdown()
    }

    /// `body`, then `shutdown()` whether it failed or not.
    package func closing<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            let value = try await body()
            await shutdown()
            return value
        } catch {
            await shutdown()
            throw error
        }
    }

    // MARK: - Requests

    /// One request as the retry loop sends it: the body is made anew for each attempt.
    package struct Call: Sendable {
        var method: HTTPMethod
        /// A path on the registry (`/v2/...`) or an absolute URL (an upload `Location`).
        var target: String
        var headers: [(String, String)] = []
        var body: (@Sendable () -> HTTPClientRequest.Body)?
        /// `repository:<name>:<actions>` scopes a Bearer token for this request must carry.
        var scopes: [String]
        /// What the request is about, for messages ("blob sha256:… of pb/model").
        var what: String
    }

    /// Sends `call`, authenticating and retrying as needed; returns the first response that is neither 401 nor
    /// retryable. The caller reads (or drains) its body.
    func send(_ call: Call) async throws(RegistryError) -> HTTPClientResponse {
        var attempt = 0
        var authenticated = false
        while true {
            attempt += 1
            var request = HTTPClientRequest(url: url(call.target))
            request.method = call.method
            for (name, value) in call.headers { request.headers.add(name: name, value: value) }
            request.headers.replaceOrAdd(name: "User-Agent", value: "pbrepo/0.1")
            for header in options.headers { request.headers.replaceOrAdd(name: header.name, value: header.value) }
            if let authorization = authorization(for: call.scopes) {
                request.headers.replaceOrAdd(name: "Authorization", value: authorization)
            }
            if let body = call.body { request.body = body() }
            let response: HTTPClientResponse
            do {
                response = try await http.execute(request, timeout: .hours(12))
            } catch {
                let failure = Self.describe(error, call: call, host: host)
                // The connection pool has tried to connect for connectTimeout already: no second round of that.
                let couldNotConnect =
                    (error as? HTTPClientError) == .connectTimeout
                    || [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH].contains((error as? IOError)?.errnoCode ?? 0)
                if failure.code == .network || failure.code == .timeout, !couldNotConnect, attempt < options.attempts {
                    try await pause(before: attempt + 1, retryAfter: nil, call: call)
                    continue
                }
                throw failure
            }
            let status = Int(response.status.code)
            if status == 401 {
                let challenge = response.headers.first(name: "WWW-Authenticate")
                let body = await Self.drain(response)
                guard !authenticated, let challenge else {
                    throw RegistryError(
                        .unauthorized,
                        "\(host) refused \(call.what)\(options.credentials == nil ? " (no credentials given: --username/--password-stdin, or docker login)" : " with the credentials given")\(Self.registryErrors(body))",
                        status: 401)
                }
                authenticated = true
                try await authenticate(challenge, scopes: call.scopes, what: call.what)
                attempt -= 1  // authentication is not a retry
                continue
            }
            if status == 429 || status == 500 || status == 502 || status == 503 || status == 504 {
                let retryAfter = response.headers.first(name: "Retry-After")
                let body = await Self.drain(response)
                guard attempt < options.attempts else {
                    throw RegistryError(
                        .unavailable,
                        "\(host) answered \(status) to \(call.what) \(attempt) times\(Self.registryErrors(body))",
                        status: status)
                }
                try await pause(before: attempt + 1, retryAfter: retryAfter, call: call)
                continue
            }
            return response
        }
    }

    func url(_ target: String) -> String {
        if target.hasPrefix("http://") || target.hasPrefix("https://") { return target }
        return base + (target.hasPrefix("/") ? target : "/" + target)
    }

    private func pause(before attempt: Int, retryAfter: String?, call: Call) async throws(RegistryError) {
        var delay = options.retryDelay * (1 << min(attempt - 2, 6))
        if let retryAfter {
            let asked: Duration? =
                Int(retryAfter.trimmingCharacters(in: .whitespaces)).map { .seconds($0) }
                ?? Self.httpDate(retryAfter).map { .milliseconds(Int(max(0, $0.timeIntervalSinceNow) * 1000)) }
            if let asked {
                guard asked <= options.longestRetryAfter else {
                    throw RegistryError(
                        .unavailable,
                        "\(host) asks to retry \(call.what) after \(retryAfter) s, longer than pbrepo waits")
                }
                delay = max(delay, asked)
            }
        }
        try? await Task.sleep(for: delay)
    }

    static func httpDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.date(from: text)
    }

    // MARK: - Authentication

    private func authorization(for scopes: [String]) -> String? {
        let key = scopes.joined(separator: " ")
        let now = ContinuousClock.now
        if let token = tokens.withLock({ $0[key] }), token.expires > now { return "Bearer " + token.value }
        if sendsBasic.load(ordering: .relaxed), let credentials = options.credentials {
            return credentials.basicAuthorization
        }
        return nil
    }

    /// Answers a 401's challenge: remembers to send Basic credentials, or fetches a Bearer token for the scopes.
    private func authenticate(_ header: String, scopes: [String], what: String) async throws(RegistryError) {
        let challenges = AuthChallenge.parse(header)
        if let bearer = challenges.first(where: { $0.scheme == "bearer" }), let realm = bearer.parameters["realm"] {
            try await fetchToken(realm: realm, service: bearer.parameters["service"], scopes: scopes, what: what)
            return
        }
        guard challenges.contains(where: { $0.scheme == "basic" }) else {
            throw RegistryError(.unauthorized, "\(host) asks for an authentication pbrepo does not speak: \(header)")
        }
        guard options.credentials != nil else {
            throw RegistryError(
                .unauthorized,
                "\(host) asks for credentials for \(what) (give --username and --password-stdin, or docker login)",
                status: 401)
        }
        sendsBasic.store(true, ordering: .relaxed)
    }

    /// The token flow of distribution (`docs/spec/auth/token.md`): GET `realm?service=…&scope=…` (with Basic
    /// credentials when there are some), `token` or `access_token` and `expires_in` (60 s when absent) back.
    private func fetchToken(realm: String, service: String?, scopes: [String], what: String) async throws(RegistryError)
    {
        guard var components = URLComponents(string: realm), components.scheme == "https" || components.scheme == "http"
        else {
            throw RegistryError(.badResponse, "\(host) names a token realm that is not a URL: \(realm)")
        }
        var items = components.queryItems ?? []
        if let service { items.append(URLQueryItem(name: "service", value: service)) }
        for scope in scopes { items.append(URLQueryItem(name: "scope", value: scope)) }
        components.queryItems = items
        guard let url = components.string else {
            throw RegistryError(.badResponse, "\(host) names a token realm that is not a URL: \(realm)")
        }
        var request = HTTPClientRequest(url: url)
        if let credentials = options.credentials {
            request.headers.add(name: "Authorization", value: credentials.basicAuthorization)
        }
        let body: ByteBuffer
        do {
            let response = try await http.execute(request, timeout: .seconds(60))
            guard response.status == .ok else {
                let text = await Self.drain(response)
                throw RegistryError(
                    .unauthorized,
                    "the token service \(components.host ?? realm) refused a token for \(what) (\(response.status.code))\(Self.registryErrors(text))",
                    status: Int(response.status.code))
            }
            body = try await response.body.collect(upTo: 1 << 20)
        } catch let error as RegistryError {
            throw error
        } catch {
            throw Self.describe(error, call: Call(method: .GET, target: url, scopes: [], what: "a token"), host: realm)
        }
        struct TokenResponse: Decodable {
            var token: String?
            var accessToken: String?
            var expiresIn: Int?

            enum CodingKeys: String, CodingKey {
                case token
                case accessToken = "access_token"
                case expiresIn = "expires_in"
            }
        }
        guard let decoded = try? JSONDecoder().decode(TokenResponse.self, from: Data(buffer: body)),
            let value = decoded.token ?? decoded.accessToken, !value.isEmpty
        else {
            throw RegistryError(.badResponse, "the token service \(components.host ?? realm) sent no token")
        }
        // Renewed a few seconds early, so that a token never expires on the way.
        let lifetime = max(1, (decoded.expiresIn ?? 60) - 5)
        tokens.withLock {
            $0[scopes.joined(separator: " ")] = BearerToken(
                value: value, expires: ContinuousClock.now + .seconds(lifetime))
        }
    }

    // MARK: - Responses

    /// Reads what is left of a response (at most 64 KiB, for an error message) so its connection can be reused.
    static func drain(_ response: HTTPClientResponse) async -> String {
        var text: [UInt8] = []
        do {
            for try await buffer in response.body where text.count < 65536 {
                text += buffer.readableBytesView.prefix(65536 - text.count)
            }
        } catch {}
        return String(decoding: text, as: UTF8.self)
    }

    /// The `errors` of a distribution error body, as `: CODE message; …` (empty when there are none).
    static func registryErrors(_ body: String) -> String {
        struct Body: Decodable {
            struct Entry: Decodable {
                var code: String?
                var message: String?
            }
            var errors: [Entry]
        }
        guard let decoded = try? JSONDecoder().decode(Body.self, from: Data(body.utf8)), !decoded.errors.isEmpty else {
            let line = body.split(separator: "\n").first.map(String.init) ?? ""
            return line.isEmpty ? "" : ": " + String(line.prefix(200))
        }
        return ": "
            + decoded.errors.prefix(3).map { [$0.code, $0.message].compactMap { $0 }.joined(separator: " ") }.joined(
                separator: "; ")
    }

    /// Fails unless the response has one of `expected` statuses; 404 is `.notFound`.
    static func expect(_ response: HTTPClientResponse, _ expected: Set<Int>, _ call: Call, host: String)
        async throws(RegistryError)
    {
        let status = Int(response.status.code)
        guard !expected.contains(status) else { return }
        let body = await drain(response)
        let code: RegistryError.Code = status == 404 ? .notFound : status >= 500 ? .unavailable : .refused
        throw RegistryError(code, "\(host) answered \(status) to \(call.what)\(registryErrors(body))", status: status)
    }

    static func describe(_ error: any Error, call: Call, host: String) -> RegistryError {
        if let error = error as? RegistryError { return error }
        if let error = error as? HTTPClientError {
            switch error {
            case .readTimeout, .connectTimeout, .deadlineExceeded:
                return RegistryError(.timeout, "\(host) did not answer \(call.what) in time (\(error))")
            case .redirectCycleDetected, .redirectLimitReached:
                return RegistryError(.badResponse, "\(host) redirected \(call.what) in a loop (\(error))")
            default:
                return RegistryError(.network, "\(host): \(call.what) failed: \(error)")
            }
        }
        if let error = error as? IOError {
            let reason = String(cString: strerror(error.errnoCode))
            return RegistryError(.network, "\(host): \(call.what) failed: \(reason) (errno \(error.errnoCode))")
        }
        return RegistryError(.network, "\(host): \(call.what) failed: \(error)")
    }
}
