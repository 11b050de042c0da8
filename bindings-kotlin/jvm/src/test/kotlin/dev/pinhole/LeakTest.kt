package dev.pinhole

import java.io.File
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/** Opening and closing sessions leaks neither Java heap, nor native memory, nor sockets. */
class LeakTest {
    private fun rssKb(): Long =
        File("/proc/self/status").readLines().first { it.startsWith("VmRSS:") }
            .split(Regex("\\s+"))[1].toLong()

    private fun fds(): Int = File("/proc/self/fd").list()!!.size

    private fun heapKb(): Long {
        repeat(3) { System.gc(); Thread.sleep(20) }
        val rt = Runtime.getRuntime()
        return (rt.totalMemory() - rt.freeMemory()) / 1024
    }

    private fun cycles(n: Int) = runBlocking {
        repeat(n) {
            val s = Session(loopbackConfig())
            s.networkChanged(dev.pinhole.ffi.NetworkKind.WIFI)
            s.closeAndWait()
        }
    }

    @Test
    fun `1000 open and close cycles leak nothing`() {
        cycles(200) // warm-up: JIT, runtime threads, allocator arenas
        val heap0 = heapKb()
        val rss0 = rssKb()
        val fd0 = fds()
        val t0 = System.nanoTime()
        cycles(1000)
        val ms = (System.nanoTime() - t0) / 1_000_000
        val heap1 = heapKb()
        val rss1 = rssKb()
        val fd1 = fds()
        println(
            "LEAK 1000 open/close cycles in $ms ms: heap ${heap0} -> ${heap1} KiB (${heap1 - heap0}), " +
                "native RSS ${rss0} -> ${rss1} KiB (${rss1 - rss0}), fds $fd0 -> $fd1",
        )
        assertTrue(fd1 <= fd0 + 2, "file descriptors grew from $fd0 to $fd1: sockets leak")
        assertTrue(heap1 - heap0 < 8 * 1024, "heap grew by ${heap1 - heap0} KiB")
        assertTrue(rss1 - rss0 < 16 * 1024, "RSS grew by ${rss1 - rss0} KiB")
    }
}
