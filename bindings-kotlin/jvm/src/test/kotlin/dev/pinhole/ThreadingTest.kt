package dev.pinhole

import dev.pinhole.ffi.SessionEvent
import dev.pinhole.ffi.SessionListener
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.Executors
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

class ThreadingTest {
    @Test
    fun `events arrive on Pinhole's threads, and calling back into the session from them is fine`() {
        val threads = ConcurrentHashMap.newKeySet<String>()
        val toB = LinkedBlockingQueue<String>()
        val toA = LinkedBlockingQueue<String>()
        val echoed = LinkedBlockingQueue<String>()
        var bRef: dev.pinhole.ffi.Session? = null
        fun listener(out: LinkedBlockingQueue<String>, echo: Boolean) = object : SessionListener {
            override fun onEvent(event: SessionEvent) {
                threads.add(Thread.currentThread().name)
                if (event is SessionEvent.Signal) out.add(event.message)
            }

            override fun onDatagrams(datagrams: List<ByteArray>) {
                threads.add(Thread.currentThread().name)
                // An echo straight from Pinhole's thread: re-entering the session here
                // must not deadlock.
                for (d in datagrams) if (echo) bRef!!.send(d) else echoed.add(String(d))
            }
        }
        val a = dev.pinhole.ffi.Session(loopbackConfig(), listener(toB, echo = false))
        val b = dev.pinhole.ffi.Session(loopbackConfig(), listener(toA, echo = true))
        bRef = b
        val pump = Thread {
            try {
                while (true) {
                    toB.poll(10, TimeUnit.MILLISECONDS)?.let { b.handleSignal(it) }
                    toA.poll(10, TimeUnit.MILLISECONDS)?.let { a.handleSignal(it) }
                }
            } catch (_: InterruptedException) {
            }
        }.apply { start() }
        try {
            runBlocking { a.waitConnected(10_000u) }
            repeat(50) { a.send("echo $it".toByteArray()) }
            repeat(50) { assertEquals("echo $it", echoed.poll(5, TimeUnit.SECONDS)) }
            assertTrue(threads.isNotEmpty())
            // Pinhole's native threads, seen by Java as JNA attaches them: "Thread-N" (a new
            // Thread object per callback) or, once attached permanently, "pinhole".
            val here = setOf(Thread.currentThread().name, pump.name)
            assertTrue(threads.none { it in here }, "callback threads: $threads")
            assertTrue(threads.all { it.startsWith("pinhole") || it.matches(Regex("Thread-\\d+")) }, "callback threads: $threads")
        } finally {
            pump.interrupt()
            pump.join()
            a.shutdown(); b.shutdown()
            a.destroy(); b.destroy()
        }
    }

    @Test
    fun `a ping-pong driven from one single-threaded dispatcher does not deadlock`() = runBlocking {
        val (pair, _) = connectedPair()
        val one = Executors.newSingleThreadExecutor { Thread(it, "app-main") }.asCoroutineDispatcher()
        pair.use { p ->
            one.use {
                withTimeout(20.seconds) {
                    withContext(one) {
                        // b answers every datagram from a collector on the same single
                        // thread that a sends and receives on.
                        val echo = launch { p.b.datagrams.collect { p.b.send(it) } }
                        repeat(200) { i ->
                            p.a.send("ping $i".toByteArray())
                            assertEquals("ping $i", String(p.a.receive()!!))
                        }
                        echo.cancel()
                    }
                }
            }
        }
    }
}
