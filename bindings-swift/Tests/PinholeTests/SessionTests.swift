import Foundation
import XCTest
@testable import Pinhole

/// Mirrors bindings-kotlin's JVM tests: two sessions in one process on loopback.
final class SessionTests: XCTestCase {
    static func loopback(earlySendQueue: UInt32 = 0) -> SessionConfig {
        SessionConfig(bind: ["127.0.0.1"], earlySendQueue: earlySendQueue)
    }

    /// Two sessions connected through `connect` with in-memory streams as signaling.
    func connectedPair(config: SessionConfig = SessionTests.loopback()) async throws -> (Session, Session) {
        let a = try Session(config: config)
        let b = try Session(config: config)
        let (toA, toAIn) = AsyncStream<String>.makeStream()
        let (toB, toBIn) = AsyncStream<String>.makeStream()
        async let pa = a.connect(outgoing: { _ = toBIn.yield($0) }, incoming: toA, timeout: 10)
        async let pb = b.connect(outgoing: { _ = toAIn.yield($0) }, incoming: toB, timeout: 10)
        _ = try await (pa, pb)
        return (a, b)
    }

    func next(_ s: Session) async -> Data? {
        var it = s.datagrams.makeAsyncIterator()
        return await it.next()
    }

    func testTwoSessionsConnectOnLoopbackAndExchangeData() async throws {
        let (a, b) = try await connectedPair()
        defer { a.close(); b.close() }
        let path = try XCTUnwrap(a.path)
        XCTAssertEqual(path.kind, .direct)
        XCTAssertEqual(path.localType, "host")
        XCTAssertTrue(path.localAddress.hasPrefix("127.0.0.1:"))
        XCTAssertEqual(a.state, .connected)
        try a.send(Data("hello from a".utf8))
        try b.send(Data("hello from b".utf8))
        let gotB = await next(b)
        let gotA = await next(a)
        XCTAssertEqual(gotB, Data("hello from a".utf8))
        XCTAssertEqual(gotA, Data("hello from b".utf8))
        try a.sendAll((0..<10).map { Data("n\($0)".utf8) })
        var it = b.datagrams.makeAsyncIterator()
        for i in 0..<10 {
            let d = await it.next()
            XCTAssertEqual(d, Data("n\(i)".utf8))
        }
        XCTAssertGreaterThanOrEqual(a.stats().datagramsSent, 11)
    }

    func testTraversalSwitchesAreOnByDefaultAndSessionsWithThemOffConnect() async throws {
        let defaults = SessionConfig()
        XCTAssertTrue(defaults.portMapping && defaults.hardNat)
        XCTAssertEqual(defaults.restartOnFailure, 3)
        var off = Self.loopback()
        off.portMapping = false
        off.hardNat = false
        off.restartOnFailure = 0
        let (a, b) = try await connectedPair(config: off)
        defer { a.close(); b.close() }
        XCTAssertEqual(try XCTUnwrap(a.path).kind, .direct)
        try a.send(Data("switches off".utf8))
        let got = await next(b)
        XCTAssertEqual(got, Data("switches off".utf8))
    }

    func testAnIceRestartKeepsDataFlowing() async throws {
        let (a, b) = try await connectedPair()
        defer { a.close(); b.close() }
        try a.restart()
        for await e in b.events {
            if case .restarted(byPeer: let byPeer) = e {
                XCTAssertTrue(byPeer)
                break
            }
        }
        _ = try await a.awaitConnected()
        try a.send(Data("after restart".utf8))
        let got = await next(b)
        XCTAssertEqual(got, Data("after restart".utf8))
        XCTAssertGreaterThanOrEqual(a.stats().restarts, 1)
    }

    func testCloseEndsTheStreamsWithClosedLastAndLaterCallsThrowClosed() async throws {
        let (a, b) = try await connectedPair()
        defer { b.close() }
        await a.closeAndWait()
        var last: SessionEvent?
        for await e in a.events { last = e }
        XCTAssertEqual(last, .stateChanged(state: .closed))
        let none = await next(a)
        XCTAssertNil(none)
        XCTAssertThrowsError(try a.send(Data("x".utf8))) { error in
            guard case PinholeError.Closed(let m) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(m.contains("create a new one"), m)
        }
        XCTAssertThrowsError(try a.handleSignal("{}"))
        XCTAssertThrowsError(try a.restart())
        a.close() // idempotent
    }

    func testNetworkChangesReachTheSessionWhileItRuns() async throws {
        let (a, b) = try await connectedPair()
        defer { a.close(); b.close() }
        try a.networkChanged(.wifi)
        try a.networkChanged(.cellular, metered: true)
        // Background and back: new sockets, an ICE restart, and data flows again.
        try a.setForeground(false)
        try a.setForeground(true)
        _ = try await a.awaitConnected()
        try a.send(Data("still here".utf8))
        let got = await next(b)
        XCTAssertEqual(got, Data("still here".utf8))
    }
}

/// Every misuse throws a typed error whose message says what to do.
final class ErrorTests: XCTestCase {
    func message(_ error: Error) -> String { (error as? LocalizedError)?.errorDescription ?? "\(error)" }

    func testGarbageSignalingThrowsBadSignal() throws {
        let s = try Session(config: SessionTests.loopback())
        defer { s.close() }
        XCTAssertThrowsError(try s.handleSignal("garbage")) { error in
            guard case PinholeError.BadSignal(let m) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(m.contains("exactly as its session emitted"), m)
        }
    }

    func testSendBeforeConnectedThrowsNotConnected() throws {
        let s = try Session(config: SessionTests.loopback())
        defer { s.close() }
        XCTAssertThrowsError(try s.send(Data("early".utf8))) { error in
            guard case PinholeError.NotConnected(let m) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(m.contains("wait for the Connected state"), m)
        }
    }

    func testImpossibleConfigurationsThrowInvalidConfig() {
        XCTAssertThrowsError(try Session(config: SessionConfig(bind: ["localhost"]))) { error in
            guard case PinholeError.InvalidConfig(let m) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(m.contains("is not an IP address"), m)
        }
        XCTAssertThrowsError(try Session(config: SessionConfig(ipv4: false, ipv6: false)))
    }

    func testASessionNobodyAnswersThrowsConnectFailed() async throws {
        let s = try Session(config: SessionTests.loopback())
        defer { s.close() }
        do {
            _ = try await s.awaitConnected(timeout: 0.3)
            XCTFail("connected to nobody")
        } catch PinholeError.ConnectFailed(let m) {
            XCTAssertTrue(m.contains("forward every signaling message"), m)
        }
    }
}

/// Callbacks arrive on Pinhole's threads; nothing waits for the main actor.
final class ThreadingTests: XCTestCase {
    final class Recorder: SessionListener, @unchecked Sendable {
        let lock = NSLock()
        var onMain = false
        var signals: [String] = []
        func onEvent(event: SessionEvent) throws {
            lock.lock(); defer { lock.unlock() }
            if Thread.isMainThread { onMain = true }
            if case .signal(message: let m) = event { signals.append(m) }
        }
        func onDatagrams(datagrams: [Data]) throws {
            lock.lock(); defer { lock.unlock() }
            if Thread.isMainThread { onMain = true }
        }
    }

    func testCallbacksNeverRunOnTheMainThread() async throws {
        let r = Recorder()
        let s = try NativeSession(config: SessionTests.loopback(), listener: r)
        defer { s.shutdown() }
        for _ in 0..<100 where r.signals.isEmpty { try await Task.sleep(nanoseconds: 10_000_000) }
        XCTAssertFalse(r.signals.isEmpty)
        XCTAssertFalse(r.onMain)
    }
}

/// 1,000 open/close cycles leak no sessions.
final class LeakTests: XCTestCase {
    func testOpenCloseCycles() async throws {
        weak var last: Session?
        for _ in 0..<1000 {
            let s = try Session(config: SessionTests.loopback())
            try s.networkChanged(.wifi)
            await s.closeAndWait()
            last = s
        }
        XCTAssertNil(last, "a closed session is freed with its last reference")
    }
}
