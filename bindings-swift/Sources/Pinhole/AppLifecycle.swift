#if canImport(UIKit) && !os(watchOS)
import Foundation
import UIKit

/// Foreground/background handling for iOS. Entering the background calls
/// `setForeground(false)` on each session (nothing is sent but TURN refreshes). iOS closes
/// the sockets of a suspended app and its NAT mappings expire meanwhile, so coming back is a
/// major network change: each session is told the current network again (from `monitor`)
/// and `setForeground(true)` replaces its sockets and restarts ICE (the peer gets the new
/// credentials through your signaling).
///
/// ```swift
/// let lifecycle = AppLifecycle(monitor: monitor)
/// lifecycle.add(session)
/// ```
public final class AppLifecycle: @unchecked Sendable {
    private let monitor: PathMonitor?
    private let lock = NSLock()
    private var sessions: [WeakRef] = []
    private var observers: [NSObjectProtocol] = []

    /// - Parameter monitor: where the current network comes from.
    public init(monitor: PathMonitor? = nil) {
        self.monitor = monitor
        let center = NotificationCenter.default
        observers.append(center.addObserver(
            forName: UIApplication.didEnterBackgroundNotification, object: nil, queue: nil
        ) { [weak self] _ in self?.enteredBackground() })
        observers.append(center.addObserver(
            forName: UIApplication.willEnterForegroundNotification, object: nil, queue: nil
        ) { [weak self] _ in self?.enteringForeground() })
    }

    deinit {
        observers.forEach(NotificationCenter.default.removeObserver)
    }

    /// Resumes this session with the app (held weakly).
    public func add(_ session: Session) {
        lock.lock()
        sessions.append(WeakRef(session))
        lock.unlock()
    }

    private func live() -> [Session] {
        lock.lock()
        defer { lock.unlock() }
        sessions.removeAll { $0.session == nil }
        return sessions.compactMap(\.session)
    }

    private func enteredBackground() {
        for s in live() {
            try? s.setForeground(false)
        }
    }

    private func enteringForeground() {
        let network = monitor?.last
        for s in live() {
            if let (kind, metered) = network {
                try? s.networkChanged(kind, metered: metered)
            }
            try? s.setForeground(true)
        }
    }
}

private struct WeakRef {
    weak var session: Session?
    init(_ s: Session) { session = s }
}
#endif
