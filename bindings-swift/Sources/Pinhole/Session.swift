import Foundation

/// A peer-to-peer session: gathers candidates, exchanges signaling through your channel,
/// finds the best path (direct or through TURN) and keeps it across network changes.
///
/// ```swift
/// let session = try Session(config: SessionConfig(stunServers: ["stun.example.org"]))
/// let path = try await session.connect(outgoing: { try await peer.send($0) },
///                                       incoming: peer.messages)
/// try session.send(Data("hello".utf8))
/// for await datagram in session.datagrams { … }
/// ```
///
/// Every method may be called from any thread or task; none blocks on the network. Events
/// and datagrams arrive on Pinhole's threads and are yielded to `AsyncStream`s at once.
/// `close()` (or the last reference going away) closes the session; every call after it
/// throws `PinholeError.Closed`.
public final class Session: @unchecked Sendable {
    /// Every event, in order, including `.signal`s. Finishes after `.stateChanged(.closed)`.
    public let events: AsyncStream<SessionEvent>
    /// The signaling messages to send to the peer, in order (`connect` forwards them).
    public let signals: AsyncStream<String>
    /// Datagrams from the peer; at most `config.receiveQueue` wait (newer ones are dropped).
    public let datagrams: AsyncStream<Data>

    private let native: NativeSession
    private let lock = NSLock()
    private var isClosed = false
    private var signaling: Task<Void, Never>?

    private static let closedMessage = "the session is closed: create a new one"

    /// Starts a session on Pinhole's threads; gathering starts at once.
    /// - Throws: `PinholeError.InvalidConfig` naming the field to fix, `.Io` if no socket
    ///   could be bound.
    public init(config: SessionConfig = SessionConfig()) throws {
        var events: AsyncStream<SessionEvent>.Continuation!
        var signals: AsyncStream<String>.Continuation!
        var datagrams: AsyncStream<Data>.Continuation!
        self.events = AsyncStream(bufferingPolicy: .unbounded) { events = $0 }
        self.signals = AsyncStream(bufferingPolicy: .unbounded) { signals = $0 }
        self.datagrams = AsyncStream(bufferingPolicy: .bufferingOldest(Int(max(config.receiveQueue, 1)))) {
            datagrams = $0
        }
        // The listener holds only the continuations, never this Session: no cycle, and the
        // native side lets the listener go after `.closed`.
        let listener = StreamListener(events: events, signals: signals, datagrams: datagrams)
        native = try NativeSession(config: config, listener: listener)
    }

    deinit {
        signaling?.cancel()
        native.shutdown()
    }

    private func live<T>(_ body: () throws -> T) throws -> T {
        lock.lock()
        let closed = isClosed
        lock.unlock()
        if closed { throw PinholeError.Closed(message: Session.closedMessage) }
        return try body()
    }

    /// The connection state.
    public var state: SessionState { native.state() }

    /// The current path, if connected.
    public var path: PathInfo? { native.path() }

    /// The bound local sockets (`ip:port`).
    public var localAddresses: [String] { native.localAddresses() }

    /// A statistics snapshot.
    public func stats() -> SessionStats { native.stats() }

    /// A signaling message from the peer, exactly as its session emitted it.
    /// - Throws: `PinholeError.BadSignal` if it is not one (nothing changed; go on).
    public func handleSignal(_ message: String) throws {
        try live { try native.handleSignal(message: message) }
    }

    /// Sends one datagram to the peer.
    /// - Throws: `.NotConnected` before a path exists, `.InvalidData` if empty, too large,
    ///   or starting with byte 0-3.
    public func send(_ data: Data) throws {
        try live { try native.send(data: data) }
    }

    /// Sends several datagrams in order in one call (cheaper per datagram for a stream).
    public func sendAll(_ datagrams: [Data]) throws {
        try live { try native.sendBatch(datagrams: datagrams) }
    }

    /// ICE restart; also the way out of `.failed`.
    public func restart() throws {
        try live { try native.restart() }
    }

    /// The device's network changed (what `PathMonitor` reports): the session moves to the
    /// new network make-before-break. `metered` nil: cellular is metered.
    public func networkChanged(_ kind: NetworkKind, metered: Bool? = nil) throws {
        try live { try native.networkChanged(kind: kind, metered: metered) }
    }

    /// The app went to the background (`false`) or came back (`true`). In the background
    /// nothing is sent but TURN refreshes; coming back replaces the sockets (iOS closed
    /// them) and restarts ICE. `AppLifecycle` calls this.
    public func setForeground(_ foreground: Bool) throws {
        try live { try native.setForeground(foreground: foreground) }
    }

    /// Suspends until connected; returns the path.
    /// - Throws: `.ConnectFailed` if ICE failed or `timeout` seconds passed first.
    public func awaitConnected(timeout: TimeInterval = 30) async throws -> PathInfo {
        try live {}
        return try await native.waitConnected(timeoutMs: UInt64(max(timeout, 0) * 1000))
    }

    /// Connects with the peer: forwards `signals` to `outgoing` and every message of
    /// `incoming` to `handleSignal` for the session's whole life (trickled candidates and
    /// ICE restarts keep flowing), then suspends until connected. Messages the session
    /// does not understand are skipped.
    public func connect<Incoming: AsyncSequence & Sendable>(
        outgoing: @escaping @Sendable (String) async throws -> Void,
        incoming: Incoming,
        timeout: TimeInterval = 30
    ) async throws -> PathInfo where Incoming.Element == String {
        try live {
            lock.lock()
            defer { lock.unlock() }
            precondition(signaling == nil, "connect() was already called on this session")
            let signals = self.signals
            signaling = Task { [weak self] in
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await m in signals {
                            try? await outgoing(m)
                        }
                    }
                    group.addTask {
                        do {
                            for try await m in incoming {
                                guard let self else { return }
                                do {
                                    try self.handleSignal(m)
                                } catch PinholeError.Closed {
                                    return
                                } catch {
                                    // Not a signaling message of ours: nothing changed.
                                }
                            }
                        } catch {}
                    }
                }
            }
        }
        return try await awaitConnected(timeout: timeout)
    }

    /// Closes the session (TURN allocations are deleted in the background, the last event
    /// is `.stateChanged(.closed)`). Idempotent.
    public func close() {
        lock.lock()
        let first = !isClosed
        isClosed = true
        lock.unlock()
        guard first else { return }
        native.shutdown()
        signaling?.cancel()
    }

    /// `close()`, then suspends until the session sent its last datagrams and events.
    public func closeAndWait() async {
        close()
        await native.closed()
    }
}

/// Hands each delivery to a stream continuation, never blocking Pinhole's thread.
private final class StreamListener: SessionListener, @unchecked Sendable {
    let events: AsyncStream<SessionEvent>.Continuation
    let signals: AsyncStream<String>.Continuation
    let datagrams: AsyncStream<Data>.Continuation

    init(
        events: AsyncStream<SessionEvent>.Continuation,
        signals: AsyncStream<String>.Continuation,
        datagrams: AsyncStream<Data>.Continuation
    ) {
        self.events = events
        self.signals = signals
        self.datagrams = datagrams
    }

    func onEvent(event: SessionEvent) throws {
        if case .signal(message: let message) = event {
            signals.yield(message)
        }
        events.yield(event)
        if case .stateChanged(state: .closed) = event {
            events.finish()
            signals.finish()
            datagrams.finish()
        }
    }

    func onDatagrams(datagrams: [Data]) throws {
        for d in datagrams {
            self.datagrams.yield(d)
        }
    }
}
