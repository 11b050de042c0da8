package dev.pinhole.android

import dev.pinhole.Pinhole
import dev.pinhole.ffi.LogLevel

/** One-time setup for an Android app. */
object PinholeAndroid {
    /**
     * Loads the native library through `System.loadLibrary` (so that its `JNI_OnLoad` keeps
     * the JavaVM and Pinhole's threads attach to it once, instead of per callback) and
     * routes Pinhole's log to logcat (tag `pinhole`) at [logLevel]. Call once, from
     * `Application.onCreate`.
     */
    @JvmStatic
    @JvmOverloads
    fun init(logLevel: LogLevel = LogLevel.WARN) {
        Pinhole.attachThreadsPermanently()
        Pinhole.setLogLevel(logLevel)
    }
}
