package dev.pinhole

import dev.pinhole.ffi.CallbackProbe
import dev.pinhole.ffi.SessionEvent
import dev.pinhole.ffi.SessionListener
import dev.pinhole.ffi.measureCallbackCost
import dev.pinhole.ffi.rustLoopbackBenchmark
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.Semaphore
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicLong
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/** One loopback run: what the runner prints. */
data class Figures(val connectMs: Double, val delivered: Long, val seconds: Double) {
    val perSecond get() = delivered / seconds
}

/**
 * The figures in BENCHMARKS.md, measured in one JVM: two sessions on loopback through the
 * Rust API (`rustLoopbackBenchmark`, same library, same runtime), through the generated
 * bindings with a plain listener, and through the idiomatic Flow layer; then the cost of
 * one callback from a Pinhole thread without and with permanent JVM attachment.
 *
 * Quick sizes in a plain `mvn test` (the figures are printed, only correctness asserted);
 * `-Dpinhole.bench=true` (scripts/bench-mobile.sh) runs the full sizes.
 */
class BenchmarksTest {
    private val full = System.getProperty("pinhole.bench") == "true"
    private val datagrams = if (full) 100_000 else 1_000
    private val size = 200
    private val window = 64
    private val payload = ByteArray(size) { 'x'.code.toByte() }

    /** Sends [n] datagrams from a plain thread, at most [window] in flight. */
    private fun pump(send: (ByteArray) -> Unit, slots: Semaphore, n: Int) {
        val t = Thread {
            repeat(n) {
                slots.tryAcquire(200, TimeUnit.MILLISECONDS) // a lost datagram frees its slot by timing out
                send(payload)
            }
        }
        t.start()
        t.join()
    }

    /** Like [pump], but every free slot at once, in one [Session.sendAll]-style call. */
    private fun pumpBatched(sendAll: (List<ByteArray>) -> Unit, slots: Semaphore, n: Int) {
        val t = Thread {
            var sent = 0
            while (sent < n) {
                val k = if (slots.tryAcquire(200, TimeUnit.MILLISECONDS)) 1 + slots.drainPermits() else 1
                val batch = List(minOf(k, n - sent)) { payload }
                sendAll(batch)
                sent += batch.size
            }
        }
        t.start()
        t.join()
    }

    private fun waitFor(received: AtomicLong, n: Int) {
        val until = System.nanoTime() + 2_000_000_000L
        while (received.get() < n && System.nanoTime() < until) Thread.sleep(1)
    }

    /** The generated bindings with a plain listener (what a Java app would write). */
    private fun rawLoopback(n: Int): Figures {
        val received = AtomicLong()
        val last = AtomicLong()
        val slots = Semaphore(window)
        val peers = arrayOfNulls<dev.pinhole.ffi.Session>(2)
        val outbox = listOf(LinkedBlockingQueue<String>(), LinkedBlockingQueue<String>())
        fun listener(me: Int) = object : SessionListener {
            override fun onEvent(event: SessionEvent) {
                if (event is SessionEvent.Signal) outbox[me].add(event.message)
            }

            override fun onDatagrams(datagrams: List<ByteArray>) {
                received.addAndGet(datagrams.size.toLong())
                last.set(System.nanoTime())
                slots.release(datagrams.size)
            }
        }
        val t0 = System.nanoTime()
        peers[0] = dev.pinhole.ffi.Session(loopbackConfig(), listener(0))
        peers[1] = dev.pinhole.ffi.Session(loopbackConfig(), listener(1))
        // Each side's signals to the other, from a plain thread (as the Rust run does from a task).
        val signaling = Thread {
            try {
                while (true) {
                    for (me in 0..1) outbox[me].poll(5, TimeUnit.MILLISECONDS)?.let { peers[1 - me]!!.handleSignal(it) }
                }
            } catch (_: InterruptedException) {
            }
        }.apply { start() }
        try {
            runBlocking {
                peers[0]!!.waitConnected(10_000u)
                peers[1]!!.waitConnected(10_000u)
            }
            val connectMs = (System.nanoTime() - t0) / 1e6
            val start = System.nanoTime()
            pump({ peers[0]!!.send(it) }, slots, n)
            waitFor(received, n)
            return Figures(connectMs, received.get(), (last.get() - start) / 1e9)
        } finally {
            signaling.interrupt()
            signaling.join()
            peers.forEach { it!!.shutdown() }
            runBlocking { peers.forEach { it!!.closed() } }
            peers.forEach { it!!.destroy() }
        }
    }

    /** The idiomatic layer: connect() with channels, datagrams collected from a Flow. */
    private fun flowLoopback(n: Int, batched: Boolean = false): Figures = runBlocking {
        val t0 = System.nanoTime()
        val (pair, _) = connectedPair()
        val connectMs = (System.nanoTime() - t0) / 1e6
        pair.use { p ->
            val received = AtomicLong()
            val last = AtomicLong()
            val slots = Semaphore(window)
            val collector = launch(Dispatchers.Default) {
                p.b.datagrams.collect {
                    received.incrementAndGet()
                    last.set(System.nanoTime())
                    slots.release()
                }
            }
            val start = System.nanoTime()
            if (batched) pumpBatched({ p.a.sendAll(it) }, slots, n) else pump({ p.a.send(it) }, slots, n)
            waitFor(received, n)
            collector.cancel()
            Figures(connectMs, received.get(), (last.get() - start) / 1e9)
        }
    }

    private fun rustLoopback(n: Int): Figures = runBlocking {
        val f = rustLoopbackBenchmark(n.toUInt(), size.toUInt(), window.toUInt())
        Figures(f.connectMs, f.delivered.toLong(), f.seconds)
    }

    /** The median run of three (by datagrams per second); one run in quick mode. */
    private fun median(run: () -> Figures): Figures =
        if (!full) run() else List(3) { run() }.sortedBy { it.perSecond }[1]

    private fun line(name: String, f: Figures, base: Figures?) = String.format(
        "BENCH loopback %-28s connect %7.2f ms   %9.0f datagrams/s%s   (%d/%d delivered)",
        name, f.connectMs, f.perSecond,
        base?.let { String.format("  %+6.1f%% vs Rust", (f.perSecond / it.perSecond - 1) * 100) } ?: "          ",
        f.delivered, datagrams,
    )

    @Test
    fun `loopback throughput and callback cost, bindings vs Rust`() {
        // Warm-up: JIT, runtime threads, allocator.
        if (full) { rustLoopback(2_000); rawLoopback(2_000); flowLoopback(2_000); flowLoopback(2_000, batched = true) }

        val rust = median { rustLoopback(datagrams) }
        val raw = median { rawLoopback(datagrams) }
        val flow = median { flowLoopback(datagrams) }
        val batched = median { flowLoopback(datagrams, batched = true) }
        for (f in listOf(rust, raw, flow, batched)) assertTrue(f.delivered >= datagrams * 99L / 100, f.toString())

        val probe = object : CallbackProbe {
            override fun ping() {}
        }
        val calls = if (full) 200_000u else 5_000u
        runBlocking { measureCallbackCost(probe, 1_000u) }
        val detached = runBlocking { measureCallbackCost(probe, calls) }
        assertFalse(detached.permanentlyAttached)
        assertEquals(calls, detached.calls)

        // From here on, Pinhole's threads stay attached to this JVM.
        assertTrue(Pinhole.attachThreadsPermanently(), "JNI_OnLoad ran and attachment is on")
        runBlocking { measureCallbackCost(probe, 1_000u) }
        val attached = runBlocking { measureCallbackCost(probe, calls) }
        assertTrue(attached.permanentlyAttached)
        val rawAttached = median { rawLoopback(datagrams) }
        val flowAttached = median { flowLoopback(datagrams) }
        val batchedAttached = median { flowLoopback(datagrams, batched = true) }

        println(String.format("BENCH setup %d datagrams of %d bytes, window %d, %s", datagrams, size, window,
            if (full) "median of 3 after a warm-up" else "one quick run (correctness only: -Dpinhole.bench=true for figures)"))
        println(line("Rust API (runtime::Session)", rust, null))
        println(line("Kotlin bindings, listener", raw, rust))
        println(line("Kotlin Session, Flow", flow, rust))
        println(line("Kotlin Session, sendAll+Flow", batched, rust))
        println(line("listener, threads attached", rawAttached, rust))
        println(line("Flow, threads attached", flowAttached, rust))
        println(line("sendAll+Flow, attached", batchedAttached, rust))
        println(String.format("BENCH callback  JNA attach/detach per call: %8.0f ns/call   permanently attached: %6.0f ns/call   (%d calls)",
            detached.nanosPerCall, attached.nanosPerCall, calls.toLong()))
    }
}
