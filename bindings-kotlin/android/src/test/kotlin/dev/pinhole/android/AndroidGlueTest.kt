package dev.pinhole.android

import android.app.Activity
import android.content.Context
import android.net.ConnectivityManager
import android.net.NetworkCapabilities
import dev.pinhole.Session
import dev.pinhole.ffi.NetworkKind
import dev.pinhole.ffi.SessionConfig
import dev.pinhole.ffi.SessionEvent
import java.util.Collections
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.async
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.flow.filterIsInstance
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.receiveAsFlow
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Before
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config
import org.robolectric.shadows.ShadowNetwork
import org.robolectric.shadows.ShadowNetworkCapabilities

/**
 * The Android glue under Robolectric's framework, driving two real sessions (the native
 * library through the generated bindings, loaded by JNA inside Robolectric).
 */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [35])
class AndroidGlueTest {
    private lateinit var a: Session
    private lateinit var b: Session

    @Before
    fun connect() = runBlocking {
        val config = SessionConfig(bind = listOf("127.0.0.1"))
        a = Session(config)
        b = Session(config)
        val toA = Channel<String>(Channel.UNLIMITED)
        val toB = Channel<String>(Channel.UNLIMITED)
        coroutineScope {
            val pa = async { a.connect({ toB.send(it) }, toA.receiveAsFlow(), 10.seconds) }
            val pb = async { b.connect({ toA.send(it) }, toB.receiveAsFlow(), 10.seconds) }
            pa.await(); pb.await()
        }
        Unit
    }

    @After
    fun close() {
        a.close()
        b.close()
    }

    /** A datagram each way arrives. */
    private fun dataFlows(tag: String) = runBlocking {
        a.send("a $tag".toByteArray())
        b.send("b $tag".toByteArray())
        withTimeout(5.seconds) {
            assertEquals("a $tag", String(b.receive()!!))
            assertEquals("b $tag", String(a.receive()!!))
        }
    }

    private fun caps(transport: Int, notMetered: Boolean): NetworkCapabilities {
        val c = ShadowNetworkCapabilities.newInstance()
        shadowOf(c).addTransportType(transport)
        if (notMetered) shadowOf(c).addCapability(NetworkCapabilities.NET_CAPABILITY_NOT_METERED)
        else shadowOf(c).removeCapability(NetworkCapabilities.NET_CAPABILITY_NOT_METERED)
        return c
    }

    @Test
    fun `wifi up, cellular replaces it, wifi lost - the session hears each change and data keeps flowing`() {
        val app = RuntimeEnvironment.getApplication()
        val cm = app.getSystemService(Context.CONNECTIVITY_SERVICE) as ConnectivityManager
        val shadowCm = shadowOf(cm)
        // What reached the real session (each call goes on to Session.networkChanged).
        val seen = Collections.synchronizedList(mutableListOf<kotlin.Pair<NetworkKind, Boolean>>())
        val session = a.asNetworkTarget()
        val monitor = NetworkMonitor(app)
        monitor.add { kind, metered ->
            seen += kind to metered
            session.networkChanged(kind, metered)
        }
        monitor.start()
        try {
            val callback = shadowCm.networkCallbacks.single()

            // Wi-Fi comes up and becomes the default network.
            val wifi = ShadowNetwork.newInstance(100)
            shadowCm.setNetworkCapabilities(wifi, caps(NetworkCapabilities.TRANSPORT_WIFI, notMetered = true))
            callback.onAvailable(wifi)
            assertEquals(listOf(NetworkKind.WIFI to false), seen.toList())
            dataFlows("on wifi")

            // Cellular replaces it as the default network (metered).
            val cell = ShadowNetwork.newInstance(101)
            val cellCaps = caps(NetworkCapabilities.TRANSPORT_CELLULAR, notMetered = false)
            shadowCm.setNetworkCapabilities(cell, cellCaps)
            callback.onAvailable(cell)
            callback.onCapabilitiesChanged(cell, cellCaps) // repeated capabilities: no new report
            assertEquals(listOf(NetworkKind.WIFI to false, NetworkKind.CELLULAR to true), seen.toList())
            dataFlows("on cellular")

            // Wi-Fi is lost: no longer the default, so nothing changes for the session.
            callback.onLost(wifi)
            assertEquals(2, seen.size)
            dataFlows("after wifi lost")

            // Cellular goes too: no network at all.
            callback.onLost(cell)
            assertEquals(NetworkKind.NONE to false, seen.last())
            assertEquals(NetworkKind.NONE to false, monitor.last)
            dataFlows("on loopback, whatever the radio says")

            // Wi-Fi comes back: from no network to one is a major change for the session
            // (it recovers or restarts if its path does not work; on loopback it does).
            val wifi2 = ShadowNetwork.newInstance(102)
            val wifiCaps = caps(NetworkCapabilities.TRANSPORT_WIFI, notMetered = true)
            shadowCm.setNetworkCapabilities(wifi2, wifiCaps)
            callback.onAvailable(wifi2)
            assertEquals(NetworkKind.WIFI to false, seen.last())
            assertEquals(4, seen.size)
            dataFlows("back on wifi")
            assertEquals(dev.pinhole.ffi.SessionState.CONNECTED, a.state)
            assertTrue(a.stats().listenerErrors == 0uL)
        } finally {
            monitor.close()
        }
        assertTrue("unregistered", shadowCm.networkCallbacks.isEmpty())
    }

    @Test
    fun `background then foreground - the session goes quiet, then restarts and data flows again`() {
        val app = RuntimeEnvironment.getApplication()
        val lifecycle = AppLifecycle(app)
        lifecycle.add(a)
        try {
            val activity = Robolectric.buildActivity(Activity::class.java).create().start()
            assertTrue(lifecycle.inForeground)
            assertEquals(0uL, a.stats().restarts)
            activity.stop()
            assertTrue(!lifecycle.inForeground)
            activity.restart()
            assertTrue(lifecycle.inForeground)
            runBlocking {
                withTimeout(10.seconds) {
                    b.events.filterIsInstance<SessionEvent.Restarted>().first()
                    a.awaitConnected()
                }
            }
            assertTrue("restarted: ${a.stats()}", a.stats().restarts >= 1uL)
            dataFlows("after coming back")
        } finally {
            lifecycle.close()
        }
    }
}
