#if canImport(Network)
import Foundation
import Network

/// Feeds the device's network to Pinhole sessions from `NWPathMonitor`: each change of the
/// path's kind (Wi-Fi, cellular, wired, other, none) or of `isExpensive` calls
/// `networkChanged(kind, metered:)` on every session added.
///
/// ```swift
/// let monitor = PathMonitor()
/// monitor.add(session)
/// monitor.start()
/// ```
public final class PathMonitor: @unchecked Sendable {
    private let monitor: NWPathMonitor
    private let queue: DispatchQueue
    private let lock = NSLock()
    private var sessions: [WeakSession] = []
    private var reported: (NetworkKind, Bool)?

    /// A monitor delivering on its own serial queue.
    public init(queue: DispatchQueue = DispatchQueue(label: "dev.pinhole.path-monitor")) {
        self.monitor = NWPathMonitor()
        self.queue = queue
    }

    /// What was last reported (nil before the first path update).
    public var last: (kind: NetworkKind, metered: Bool)? {
        lock.lock()
        defer { lock.unlock() }
        return reported.map { (kind: $0.0, metered: $0.1) }
    }

    /// Reports changes to `session` too (and the current network at once, if known). The
    /// session is held weakly.
    public func add(_ session: Session) {
        lock.lock()
        sessions.append(WeakSession(session))
        let now = reported
        lock.unlock()
        if let (kind, metered) = now {
            try? session.networkChanged(kind, metered: metered)
        }
    }

    /// Starts monitoring.
    public func start() {
        monitor.pathUpdateHandler = { [weak self] path in
            self?.update(PathMonitor.classify(path))
        }
        monitor.start(queue: queue)
    }

    /// Stops monitoring.
    public func stop() {
        monitor.cancel()
    }

    /// The kind and meteredness of a path.
    public static func classify(_ path: NWPath) -> (NetworkKind, Bool) {
        guard path.status == .satisfied else { return (.none, false) }
        let kind: NetworkKind
        if path.usesInterfaceType(.wifi) {
            kind = .wifi
        } else if path.usesInterfaceType(.cellular) {
            kind = .cellular
        } else if path.usesInterfaceType(.wiredEthernet) {
            kind = .ethernet
        } else {
            kind = .other
        }
        return (kind, path.isExpensive)
    }

    private func update(_ now: (NetworkKind, Bool)) {
        lock.lock()
        if let r = reported, r.0 == now.0, r.1 == now.1 {
            lock.unlock()
            return
        }
        reported = now
        sessions.removeAll { $0.session == nil }
        let targets = sessions.compactMap(\.session)
        lock.unlock()
        for s in targets {
            // A closed session has nothing to move.
            try? s.networkChanged(now.0, metered: now.1)
        }
    }
}

private struct WeakSession {
    weak var session: Session?
    init(_ s: Session) { session = s }
}
#endif
