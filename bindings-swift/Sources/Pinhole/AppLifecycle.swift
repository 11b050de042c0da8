#if canImport(UIKit) && !os(watchOS)
import Foundation
import UIKit

/// Foreground/background handling for iOS. iOS closes the sockets of a suspended app and
/// its NAT mappings expire meanwhile: coming back to the foreground is a major network
/// change. Each session added is told the current network again (from `monitor`) and
/// restarted (the peer gets the new credentials through your signaling).
///
/// ```swift
/// let lifecycle = AppLifecycle(monitor: monitor)
/// lifecycle.add(session)
/// ```
public final class AppLifecycle: @unchecked Sendable {
    private let monitor: PathMonitor?
    private let restartAfter: TimeInterval
    private let lock = NSLock()
    private var sessions: [WeakRef] = []
    private var backgroundSince: Date?
    private var observers: [NSObjectProtocol] = []

    /// - Parameters:
    ///   - monitor: where the current network comes from.
    ///   - restartAfter: shortest time in the background that restarts sessions (0:
    ///     always, since iOS may have closed the sockets).
    public init(monitor: PathMonitor? = nil, restartAfter: TimeInterval = 0) {
        self.monitor = monitor
        self.restartAfter = restartAfter
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

    private func enteredBackground() {
        lock.lock()
        backgroundSince = Date()
        lock.unlock()
    }

    private func enteringForeground() {
        lock.lock()
        let away = backgroundSince.map { Date().timeIntervalSince($0) } ?? 0
        backgroundSince = nil
        sessions.removeAll { $0.session == nil }
        let targets = sessions.compactMap(\.session)
        lock.unlock()
        guard away >= restartAfter else { return }
        for s in targets {
            if let (kind, metered) = monitor?.last {
                try? s.networkChanged(kind, metered: metered)
            }
            try? s.restart()
        }
    }
}

private struct WeakRef {
    weak var session: Session?
    init(_ s: Session) { session = s }
}
#endif
