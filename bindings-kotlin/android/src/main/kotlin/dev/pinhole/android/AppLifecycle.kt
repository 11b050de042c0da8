package dev.pinhole.android

import android.app.Activity
import android.app.Application
import android.os.Bundle
import android.os.SystemClock
import dev.pinhole.Session
import java.util.concurrent.CopyOnWriteArraySet

/**
 * App foreground/background hooks from `Application.ActivityLifecycleCallbacks` (the
 * framework's, no androidx). The app is in the foreground while at least one activity is
 * started. Coming back after [restartAfterMs] or more in the background, each session is
 * told about the network again and restarted: NAT mappings and the peer's path state have
 * likely expired while the radio slept (the peer gets the new credentials through the
 * app's signaling).
 *
 * ```
 * AppLifecycle(application, monitor).apply { add(session) }
 * ```
 */
class AppLifecycle(
    private val application: Application,
    private val monitor: NetworkMonitor? = null,
    private val restartAfterMs: Long = 30_000,
    private val clock: () -> Long = { SystemClock.elapsedRealtime() },
) : AutoCloseable {
    private val sessions = CopyOnWriteArraySet<Session>()
    private var started = 0
    private var backgroundSince: Long? = null

    /** Whether an activity of the app is started. */
    val inForeground: Boolean @Synchronized get() = started > 0

    /** Resumes this session with the app. */
    fun add(session: Session) = sessions.add(session)

    /** Stops handling this session. */
    fun remove(session: Session) = sessions.remove(session)

    private val callbacks = object : Application.ActivityLifecycleCallbacks {
        override fun onActivityStarted(activity: Activity) = started()
        override fun onActivityStopped(activity: Activity) = stopped()
        override fun onActivityCreated(activity: Activity, savedInstanceState: Bundle?) {}
        override fun onActivityResumed(activity: Activity) {}
        override fun onActivityPaused(activity: Activity) {}
        override fun onActivitySaveInstanceState(activity: Activity, outState: Bundle) {}
        override fun onActivityDestroyed(activity: Activity) {}
    }

    init {
        application.registerActivityLifecycleCallbacks(callbacks)
    }

    private fun started() {
        val away = synchronized(this) {
            started += 1
            if (started != 1) return
            val since = backgroundSince ?: return
            backgroundSince = null
            clock() - since
        }
        if (away < restartAfterMs) return
        val (kind, metered) = monitor?.last ?: return resumeAll(null)
        resumeAll(kind to metered)
    }

    private fun resumeAll(network: kotlin.Pair<dev.pinhole.ffi.NetworkKind, Boolean>?) {
        for (s in sessions) {
            try {
                network?.let { (k, m) -> s.networkChanged(k, m) }
                s.restart()
            } catch (_: dev.pinhole.ffi.PinholeException.Closed) {
                sessions.remove(s)
            }
        }
    }

    private fun stopped() = synchronized(this) {
        started = (started - 1).coerceAtLeast(0)
        if (started == 0) backgroundSince = clock()
    }

    /** Unregisters the callbacks. */
    override fun close() = application.unregisterActivityLifecycleCallbacks(callbacks)
}
