public import Testing

extension Tag {
    /// Tests that take tens of seconds (learning runs, kill -9 loops); `make test-fast` skips them (by suite name,
    /// since `swift test` has no tag filter), CI runs everything.
    @Tag public static var slow: Self
}
