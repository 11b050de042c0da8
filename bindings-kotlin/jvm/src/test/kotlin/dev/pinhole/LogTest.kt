package dev.pinhole

import dev.pinhole.ffi.LogLevel
import java.util.concurrent.ConcurrentLinkedQueue
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

class LogTest {
    @Test
    fun `Pinhole's log records reach a Kotlin logger, and a throwing logger is harmless`() {
        val records = ConcurrentLinkedQueue<Triple<LogLevel, String, String>>()
        Pinhole.setLogger(LogLevel.DEBUG) { level, target, message -> records.add(Triple(level, target, message)) }
        try {
            Session(loopbackConfig()).use { s -> s.networkChanged(dev.pinhole.ffi.NetworkKind.WIFI) }
            assertTrue(
                records.any { it.first == LogLevel.DEBUG && it.second.startsWith("pinhole") && it.third.contains("network changed") },
                "records: ${records.take(5)}",
            )
            assertTrue(records.none { it.first == LogLevel.TRACE })
            // A logger that throws: the exception is dropped, nothing else happens.
            Pinhole.setLogger(LogLevel.DEBUG) { _, _, _ -> throw IllegalStateException("a broken logger") }
            Session(loopbackConfig()).use { s -> s.networkChanged(dev.pinhole.ffi.NetworkKind.CELLULAR) }
        } finally {
            Pinhole.setLogger(LogLevel.OFF, null)
        }
    }
}
