package dev.pinhole.android

import android.app.Activity
import android.app.Application
import android.os.Bundle
import dev.pinhole.Session
import java.util.concurrent.CopyOnWriteArraySet

/**
 * App foreground/background hooks from `Application.ActivityLifecycleCallbacks` (the
 * framework's, no androidx). The app is in the foreground while at least one activity is
 * started. Going to the background calls `setForeground(false)` on each session (it then
 * sends nothing but TURN refreshes, so a sleeping app does not wake the radio); coming back
 * reports the current network again (from [monitor]) and calls `setForeground(true)`: the
 * session replaces its sockets and restarts ICE, since NAT mappings have likely expired (the
 * peer gets the new credentials through the app's signaling).
 *
 * ```
 * AppLifecycle(application, monitor).add(session)
 * ```
 */
class AppLifecycle(
    private val application: Application,
    private val monitor: NetworkMonitor? = null,
) : AutoCloseable {
    private val sessions = CopyOnWriteArraySet<Session>()
    private var started = 0

    /** Whether an activity of the app is started. */
    val inForeground: Boolean @Synchronized get() = started > 0

    /** Follows the app with this session. */
    fun add(session: Session) {
        sessions.add(session)
    }

    /** Stops following the app with this session. */
    fun remove(session: Session) {
        sessions.remove(session)
    }

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
        val comingBack = synchronized(this) { ++started == 1 }
        if (!comingBack) return
        val network = monitor?.last
        forEach { s ->
            network?.let { (kind, metered) -> s.networkChanged(kind, metered) }
            s.setForeground(true)
        }
    }

    private fun stopped() {
        val leaving = synchronized(this) {
            if (started == 0) return
            --started == 0
        }
        if (leaving) forEach { it.setForeground(false) }
    }

    private fun forEach(f: (Session) -> Unit) {
        for (s in sessions) {
            try {
                f(s)
            } catch (_: dev.pinhole.ffi.PinholeException.Closed) {
                sessions.remove(s)
            }
        }
    }

    /** Unregisters the callbacks. */
    override fun close() = application.unregisterActivityLifecycleCallbacks(callbacks)
}
