package dev.pinhole

import dev.pinhole.ffi.ListenerException
import dev.pinhole.ffi.PinholeException
import dev.pinhole.ffi.SessionConfig
import dev.pinhole.ffi.SessionEvent
import dev.pinhole.ffi.SessionListener
import dev.pinhole.ffi.TurnServer
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** Every misuse raises a typed exception whose message says what to do. */
class ErrorsTest {
    private fun assertAdvice(e: Exception, advice: String) =
        assertTrue(e.message!!.contains(advice), "\"${e.message}\" should say \"$advice\"")

    @Test
    fun `garbage signaling raises BadSignal and changes nothing`() {
        Session(loopbackConfig()).use { s ->
            assertAdvice(assertThrows<PinholeException.BadSignal> { s.handleSignal("garbage") }, "exactly as its session emitted")
            assertAdvice(assertThrows<PinholeException.BadSignal> { s.handleSignal("{\"type\":\"candidate\"}") }, "candidate")
            assertAdvice(
                assertThrows<PinholeException.BadSignal> { s.handleSignal("{\"type\":\"candidate\",\"candidate\":\"not a candidate\"}") },
                "bad candidate",
            )
            // Still usable: a real message from a real peer is accepted afterwards.
            Session(loopbackConfig()).use { peer ->
                val first = runBlocking { withTimeout(5.seconds) { peer.signals.first() } }
                s.handleSignal(first)
            }
        }
    }

    @Test
    fun `send before connected raises NotConnected`() {
        Session(loopbackConfig()).use { s ->
            assertAdvice(assertThrows<PinholeException.NotConnected> { s.send("early".toByteArray()) }, "wait for the Connected state")
        }
    }

    @Test
    fun `bad datagrams raise InvalidData`() {
        Session(loopbackConfig(earlySendQueue = 4u)).use { s ->
            assertAdvice(assertThrows<PinholeException.InvalidData> { s.send(ByteArray(0)) }, "empty")
            assertAdvice(assertThrows<PinholeException.InvalidData> { s.send(byteArrayOf(0, 1)) }, "frame it")
        }
    }

    @Test
    fun `use after close raises Closed`() {
        val s = Session(loopbackConfig())
        s.close()
        assertAdvice(assertThrows<PinholeException.Closed> { s.send("x".toByteArray()) }, "create a new one")
        assertAdvice(assertThrows<PinholeException.Closed> { s.networkChanged(dev.pinhole.ffi.NetworkKind.WIFI) }, "create a new one")
        assertThrows<PinholeException.Closed> { runBlocking { s.awaitConnected() } }
    }

    @Test
    fun `impossible configurations raise InvalidConfig naming the field`() {
        assertAdvice(assertThrows<PinholeException.InvalidConfig> { Session(SessionConfig(bind = listOf("localhost"))) }, "is not an IP address")
        assertAdvice(assertThrows<PinholeException.InvalidConfig> { Session(SessionConfig(ipv4 = false, ipv6 = false)) }, "enable at least one")
        assertAdvice(
            assertThrows<PinholeException.InvalidConfig> {
                Session(SessionConfig(relayPolicy = dev.pinhole.ffi.RelayPolicy.RELAY_ONLY))
            },
            "add one",
        )
        assertAdvice(
            assertThrows<PinholeException.InvalidConfig> {
                Session(SessionConfig(turnServers = listOf(TurnServer("http://turn.example.org", "u", "p"))))
            },
            "turn:",
        )
    }

    @Test
    fun `a session nobody answers raises ConnectFailed after the timeout`() {
        Session(loopbackConfig()).use { s ->
            val e = assertThrows<PinholeException.ConnectFailed> { runBlocking { s.awaitConnected(300.milliseconds) } }
            assertAdvice(e, "forward every signaling message")
        }
    }

    @Test
    fun `a listener that throws is counted and the session goes on`() {
        val signals = java.util.concurrent.LinkedBlockingQueue<String>()
        val threw = CountDownLatch(3)
        val throwing = object : SessionListener {
            override fun onEvent(event: SessionEvent) {
                if (event is SessionEvent.Signal) signals.add(event.message)
                threw.countDown()
                throw IllegalStateException("a bug in the app's listener")
            }

            override fun onDatagrams(datagrams: List<ByteArray>) = throw ListenerException.Failed("declared failure")
        }
        val raw = dev.pinhole.ffi.Session(loopbackConfig(), throwing)
        try {
            assertTrue(threw.await(5, TimeUnit.SECONDS))
            // Counted right after each throw returns to Rust.
            val until = System.nanoTime() + 5_000_000_000
            while (raw.stats().listenerErrors < 3uL && System.nanoTime() < until) Thread.sleep(5)
            assertTrue(raw.stats().listenerErrors >= 3uL, raw.stats().toString())
            // The session still works: its signals went out despite the throws.
            assertTrue(signals.isNotEmpty())
        } finally {
            raw.shutdown()
            raw.destroy()
        }
    }
}

