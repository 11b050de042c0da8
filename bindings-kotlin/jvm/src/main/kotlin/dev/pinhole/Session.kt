package dev.pinhole

import dev.pinhole.ffi.NetworkKind
import dev.pinhole.ffi.PathInfo
import dev.pinhole.ffi.PinholeException
import dev.pinhole.ffi.SessionConfig
import dev.pinhole.ffi.SessionEvent
import dev.pinhole.ffi.SessionState
import dev.pinhole.ffi.SessionStats
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicLong
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.receiveAsFlow
import kotlinx.coroutines.launch
import dev.pinhole.ffi.Session as NativeSession

/**
 * A peer-to-peer session: gathers candidates, exchanges signaling through your channel,
 * finds the best path (direct or through TURN) and keeps it across network changes.
 *
 * ```
 * Session(SessionConfig(stunServers = listOf("stun.example.org"))).use { s ->
 *     s.connect(outgoing = { peer.send(it) }, incoming = peer.messages)
 *     s.send("hello".toByteArray())
 *     val reply = s.receive()
 * }
 * ```
 *
 * Every method may be called from any thread and none blocks on the network. Events and
 * datagrams arrive on Pinhole's threads and are handed to channels at once (never
 * blocking those threads), so collecting [events] or [datagrams] on any dispatcher is safe.
 * [close] (this is [AutoCloseable]) closes the session and frees the native object; every
 * call after it raises [PinholeException.Closed].
 */
class Session(config: SessionConfig = SessionConfig()) : AutoCloseable {
    private val eventChannel = Channel<SessionEvent>(Channel.UNLIMITED)
    private val signalChannel = Channel<String>(Channel.UNLIMITED)
    private val datagramChannel = Channel<ByteArray>(config.receiveQueue.toInt().coerceAtLeast(1))
    private val dropped = AtomicLong()
    private val closed = AtomicBoolean(false)
    private val scope = CoroutineScope(SupervisorJob())
    private var signaling: Job? = null

    // The listener captures only the channels, never this Session: nothing native keeps
    // the Session reachable, and the native side lets the listener go after `Closed`.
    private val native: NativeSession =
        NativeSession(config, ChannelListener(eventChannel, signalChannel, datagramChannel, dropped))

    /**
     * Every event, in order, including [SessionEvent.Signal]s. Backed by one channel: each
     * event goes to one collector. Completes after [SessionEvent.StateChanged] to
     * [SessionState.CLOSED].
     */
    val events: Flow<SessionEvent> = eventChannel.receiveAsFlow()

    /**
     * The signaling messages to send to the peer, in order (the same messages as the
     * [SessionEvent.Signal]s in [events]). [connect] forwards them for you.
     */
    val signals: Flow<String> = signalChannel.receiveAsFlow()

    /**
     * Datagrams from the peer. At most `config.receiveQueue` wait here; newer ones are
     * dropped and counted ([droppedDatagrams]) until you catch up.
     */
    val datagrams: Flow<ByteArray> = datagramChannel.receiveAsFlow()

    /** Datagrams dropped because [datagrams] was not read fast enough. */
    val droppedDatagrams: Long get() = dropped.get()

    /** The connection state. */
    val state: SessionState get() = live { native.state() }

    /** The current path, if connected. */
    val path: PathInfo? get() = live { native.path() }

    /** The bound local sockets (`ip:port`). */
    val localAddresses: List<String> get() = live { native.localAddresses() }

    /** A statistics snapshot. */
    fun stats(): SessionStats = live { native.stats() }

    /**
     * A signaling message from the peer, exactly as its session emitted it.
     * @throws PinholeException.BadSignal if it is not one (nothing changed; go on).
     */
    fun handleSignal(message: String) = live { native.handleSignal(message) }

    /**
     * Sends one datagram to the peer.
     * @throws PinholeException.NotConnected before a path exists (see [awaitConnected]).
     * @throws PinholeException.InvalidData if empty, too large, or starting with byte 0-3.
     */
    fun send(data: ByteArray) = live { native.send(data) }

    /**
     * Sends several datagrams in order, in one call into the native library: much cheaper
     * per datagram than [send] for a stream (each call across JNA costs microseconds).
     * Stops at the first that fails and raises its error, saying how many went before it.
     */
    fun sendAll(datagrams: List<ByteArray>) = live { native.sendBatch(datagrams) }

    /** ICE restart; also the way out of [SessionState.FAILED]. */
    fun restart() = live { native.restart() }

    /**
     * The device's network changed (what the platform's monitor reported): the session
     * moves to the new network make-before-break. `metered` null: cellular is metered.
     */
    fun networkChanged(kind: NetworkKind, metered: Boolean? = null) =
        live { native.networkChanged(kind, metered) }

    /**
     * The app went to the background (false) or came back (true). In the background
     * nothing is sent but TURN refreshes; coming back replaces the sockets and restarts ICE
     * (the session decides). The Android glue's `AppLifecycle` calls this.
     */
    fun setForeground(foreground: Boolean) = live { native.setForeground(foreground) }

    /**
     * Suspends until connected; returns the path.
     * @throws PinholeException.ConnectFailed if ICE failed or [timeout] passed first.
     */
    suspend fun awaitConnected(timeout: Duration = 30.seconds): PathInfo =
        live { native }.waitConnected(timeout.inWholeMilliseconds.coerceAtLeast(0).toULong())

    /**
     * Connects with the peer: forwards this session's [signals] to [outgoing] and every
     * message of [incoming] to [handleSignal] (both for the session's whole life: trickled
     * candidates and ICE restarts keep flowing), then suspends until connected.
     * Messages the session does not understand are skipped (they change nothing).
     */
    suspend fun connect(
        outgoing: suspend (String) -> Unit,
        incoming: Flow<String>,
        timeout: Duration = 30.seconds,
    ): PathInfo {
        live { }
        synchronized(this) {
            check(signaling == null) { "connect() was already called on this session" }
            signaling = scope.launch {
                launch { signals.collect { outgoing(it) } }
                incoming.collect { m ->
                    try {
                        handleSignal(m)
                    } catch (e: PinholeException.BadSignal) {
                        // Not a signaling message of ours: nothing changed.
                    } catch (e: PinholeException.Closed) {
                        this@launch.cancel()
                    }
                }
            }
        }
        return awaitConnected(timeout)
    }

    /** Suspends until the next datagram from the peer; null once the session closed. */
    suspend fun receive(): ByteArray? = datagramChannel.receiveCatching().getOrNull()

    /**
     * Closes the session (TURN allocations are deleted in the background, the last event
     * is `StateChanged(CLOSED)`) and frees the native object. Idempotent.
     */
    override fun close() {
        if (!closed.compareAndSet(false, true)) return
        native.shutdown()
        native.destroy()
        scope.cancel()
    }

    /** [close], then suspends until the session sent its last datagrams and events. */
    suspend fun closeAndWait() {
        if (!closed.compareAndSet(false, true)) return
        native.shutdown()
        try {
            native.closed()
        } finally {
            native.destroy()
            scope.cancel()
        }
    }

    private inline fun <T> live(f: () -> T): T {
        if (closed.get()) throw PinholeException.Closed(CLOSED_MESSAGE)
        return f()
    }

    private companion object {
        const val CLOSED_MESSAGE = "the session is closed: create a new one"
    }
}

/** Hands each delivery to a channel without ever blocking Pinhole's thread. */
private class ChannelListener(
    private val events: Channel<SessionEvent>,
    private val signals: Channel<String>,
    private val datagrams: Channel<ByteArray>,
    private val dropped: AtomicLong,
) : dev.pinhole.ffi.SessionListener {
    override fun onEvent(event: SessionEvent) {
        if (event is SessionEvent.Signal) signals.trySend(event.message)
        events.trySend(event)
        if (event is SessionEvent.StateChanged && event.state == SessionState.CLOSED) {
            events.close()
            signals.close()
            datagrams.close()
        }
    }

    override fun onDatagrams(datagrams: List<ByteArray>) {
        for (d in datagrams) if (this.datagrams.trySend(d).isFailure) dropped.incrementAndGet()
    }
}
