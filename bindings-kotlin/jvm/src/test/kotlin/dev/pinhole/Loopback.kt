package dev.pinhole

import dev.pinhole.ffi.PathInfo
import dev.pinhole.ffi.SessionConfig
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.async
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.flow.receiveAsFlow

/** Sessions bound to 127.0.0.1 only: two of them in one JVM find each other there. */
fun loopbackConfig(earlySendQueue: UInt = 0u) =
    SessionConfig(bind = listOf("127.0.0.1"), earlySendQueue = earlySendQueue)

/** Two sessions and the in-memory signaling channel between them. */
class Pair(val a: Session, val b: Session) : AutoCloseable {
    override fun close() {
        a.close()
        b.close()
    }
}

/** Two loopback sessions, connected through [Session.connect] with channels as signaling. */
suspend fun connectedPair(config: SessionConfig = loopbackConfig()): kotlin.Pair<Pair, kotlin.Pair<PathInfo, PathInfo>> {
    val a = Session(config)
    val b = Session(config)
    val toA = Channel<String>(Channel.UNLIMITED)
    val toB = Channel<String>(Channel.UNLIMITED)
    val paths = coroutineScope {
        val pa = async { a.connect(outgoing = { toB.send(it) }, incoming = toA.receiveAsFlow(), timeout = 10.seconds) }
        val pb = async { b.connect(outgoing = { toA.send(it) }, incoming = toB.receiveAsFlow(), timeout = 10.seconds) }
        pa.await() to pb.await()
    }
    return Pair(a, b) to paths
}
