import Foundation

/// Process-wide settings.
public enum PinholeLibrary {
    /// The native library's version.
    public static var version: String { Pinhole.version() }

    /// Logs at `level` and above to the unified log (subsystem `dev.pinhole`; see it in
    /// Console.app or `log stream --predicate 'subsystem == "dev.pinhole"'`).
    public static func setLogLevel(_ level: LogLevel) throws {
        try Pinhole.setLogLevel(level: level)
    }

    /// How many threads Pinhole's runtime uses for all sessions (default 1); only before
    /// the first session.
    public static func setRuntimeThreads(_ threads: UInt32) throws {
        try Pinhole.setRuntimeThreads(threads: threads)
    }
}
