package dev.pinhole

import com.sun.jna.NativeLibrary
import dev.pinhole.ffi.LogLevel
import dev.pinhole.ffi.LogSink
import dev.pinhole.ffi.PinholeException

/** Process-wide settings: version, runtime threads, logging, JVM thread attachment. */
object Pinhole {
    /** The native library's version. */
    val version: String get() = dev.pinhole.ffi.version()

    /**
     * How many threads Pinhole's runtime uses for all sessions (default 1). Only before
     * the first session.
     * @throws PinholeException.InvalidConfig after, or outside 1..64.
     */
    fun setRuntimeThreads(threads: Int) = dev.pinhole.ffi.setRuntimeThreads(threads.toUInt())

    /**
     * Sends Pinhole's log records at [level] and above to [log] (on whatever thread
     * logged); null: back to the platform log (logcat on Android) or nowhere.
     */
    fun setLogger(level: LogLevel, log: ((LogLevel, String, String) -> Unit)?) {
        val sink = log?.let { f ->
            object : LogSink {
                override fun log(level: LogLevel, target: String, message: String) = f(level, target, message)
            }
        }
        dev.pinhole.ffi.setLogSink(sink, level)
    }

    /** Logs at [level] and above to the platform log (logcat on Android). */
    fun setLogLevel(level: LogLevel) = dev.pinhole.ffi.setLogLevel(level)

    /**
     * Attaches Pinhole's runtime threads to the JVM once, permanently, instead of JNA
     * attaching and detaching around every callback (events and datagrams cost less).
     * Loads the library through `System.load` so that its `JNI_OnLoad` runs; on Android
     * `PinholeAndroid.init` does this. Returns whether attachment is now on.
     */
    @Synchronized
    fun attachThreadsPermanently(): Boolean {
        if (dev.pinhole.ffi.jvmThreadAttachment()) return true
        val file = NativeLibrary.getInstance("pinhole_ffi").file
        if (file != null) System.load(file.absolutePath) else System.loadLibrary("pinhole_ffi")
        return dev.pinhole.ffi.jvmThreadAttachment()
    }
}
