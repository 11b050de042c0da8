package dev.pinhole

import dev.pinhole.ffi.PathKind
import dev.pinhole.ffi.PinholeException
import dev.pinhole.ffi.SessionConfig
import dev.pinhole.ffi.SessionEvent
import dev.pinhole.ffi.SessionState
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.flow.filterIsInstance
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

class SessionTest {
    @Test
    fun `two sessions in one JVM connect on loopback and exchange data`() = runBlocking {
        val (pair, paths) = connectedPair()
        pair.use { p ->
            assertEquals(PathKind.DIRECT, paths.first.kind)
            assertEquals("host", paths.first.localType)
            assertTrue(paths.first.localAddress.startsWith("127.0.0.1:"), paths.first.toString())
            assertEquals(SessionState.CONNECTED, p.a.state)
            assertEquals(paths.first.remoteSocket, p.a.path?.remoteSocket)

            p.a.send("hello from a".toByteArray())
            p.b.send("hello from b".toByteArray())
            withTimeout(5.seconds) {
                assertArrayEquals("hello from a".toByteArray(), p.b.receive())
                assertArrayEquals("hello from b".toByteArray(), p.a.receive())
            }
            // A burst arrives complete and in order on loopback.
            repeat(100) { p.a.send("n$it".toByteArray()) }
            withTimeout(5.seconds) {
                repeat(100) { assertEquals("n$it", String(p.b.receive()!!)) }
            }
            val stats = p.a.stats()
            assertTrue(stats.datagramsSent >= 101uL, stats.toString())
            assertTrue(stats.json.contains("\"pairs\""))
            assertTrue(p.a.localAddresses.all { it.startsWith("127.0.0.1:") })
        }
    }

    @Test
    fun `port mapping, the hard-NAT punch and restarts after failure are on by default and can be turned off`() = runBlocking {
        val defaults = SessionConfig()
        assertTrue(defaults.portMapping && defaults.hardNat)
        assertEquals(3u, defaults.restartOnFailure)
        val off = loopbackConfig().copy(portMapping = false, hardNat = false, restartOnFailure = 0u)
        val (pair, paths) = connectedPair(off)
        pair.use {
            assertEquals(PathKind.DIRECT, paths.first.kind)
            assertEquals(SessionState.CONNECTED, it.a.stats().state)
            it.a.send("switches off".toByteArray())
            withTimeout(5.seconds) { assertArrayEquals("switches off".toByteArray(), it.b.receive()) }
        }
    }

    @Test
    fun `an ICE restart keeps data flowing`() = runBlocking {
        val (pair, _) = connectedPair()
        pair.use { p ->
            p.a.restart()
            withTimeout(10.seconds) {
                assertEquals(false, p.a.events.filterIsInstance<SessionEvent.Restarted>().first().byPeer)
                assertEquals(true, p.b.events.filterIsInstance<SessionEvent.Restarted>().first().byPeer)
                p.a.awaitConnected()
            }
            p.a.send("after restart".toByteArray())
            withTimeout(5.seconds) { assertEquals("after restart", String(p.b.receive()!!)) }
            assertTrue(p.a.stats().restarts >= 1uL)
        }
    }

    @Test
    fun `close ends the flows with CLOSED last and later calls raise Closed`() = runBlocking {
        val (pair, _) = connectedPair()
        val a = pair.a
        a.closeAndWait()
        val events = withTimeout(5.seconds) { a.events.toList() }
        assertEquals(SessionEvent.StateChanged(SessionState.CLOSED), events.last())
        assertNull(withTimeout(5.seconds) { a.receive() })
        val e = assertThrows<PinholeException.Closed> { a.send("x".toByteArray()) }
        assertTrue(e.message!!.contains("create a new one"), e.message)
        assertThrows<PinholeException.Closed> { a.handleSignal("{}") }
        assertThrows<PinholeException.Closed> { a.restart() }
        assertThrows<PinholeException.Closed> { a.state }
        a.close() // idempotent
        // The peer notices nothing bad: it can still be closed cleanly.
        pair.b.closeAndWait()
    }

    @Test
    fun `network changes reach the session while it runs`() = runBlocking {
        val (pair, _) = connectedPair()
        pair.use { p ->
            p.a.networkChanged(dev.pinhole.ffi.NetworkKind.WIFI)
            p.a.networkChanged(dev.pinhole.ffi.NetworkKind.CELLULAR, metered = true)
            // Background and back: new sockets, an ICE restart, and data flows again.
            p.a.setForeground(false)
            p.a.setForeground(true)
            withTimeout(10.seconds) {
                p.b.events.filterIsInstance<SessionEvent.Restarted>().first()
                p.a.awaitConnected()
            }
            p.a.send("still here".toByteArray())
            withTimeout(5.seconds) { assertEquals("still here", String(p.b.receive()!!)) }
        }
    }
}
