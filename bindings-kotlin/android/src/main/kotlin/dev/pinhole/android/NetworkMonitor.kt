package dev.pinhole.android

import android.content.Context
import android.net.ConnectivityManager
import android.net.Network
import android.net.NetworkCapabilities
import android.util.Log
import dev.pinhole.ffi.NetworkKind
import java.util.concurrent.CopyOnWriteArraySet

/**
 * Feeds the device's default network to Pinhole sessions, from
 * `ConnectivityManager.registerDefaultNetworkCallback`. Android 11+ forbids netlink to apps,
 * so this host-fed path is how a session on Android learns that Wi-Fi went away or cellular
 * took over: each change of the default network's kind or meteredness calls
 * `networkChanged(kind, metered)` on every target; losing the default network reports
 * [NetworkKind.NONE].
 *
 * ```
 * val monitor = NetworkMonitor(context).apply { add(session.asNetworkTarget()); start() }
 * ...
 * monitor.close()
 * ```
 *
 * Needs `android.permission.ACCESS_NETWORK_STATE` (declared in the AAR's manifest).
 * Callbacks run on ConnectivityManager's thread; `networkChanged` never blocks.
 */
class NetworkMonitor(context: Context) : AutoCloseable {
    private val cm: ConnectivityManager =
        context.getSystemService(Context.CONNECTIVITY_SERVICE) as? ConnectivityManager
            ?: throw IllegalStateException("no ConnectivityManager on this device")
    private val targets = CopyOnWriteArraySet<NetworkTarget>()
    private var registered = false

    /** The default network, and what was last reported for it. */
    private var current: Network? = null
    private var reported: kotlin.Pair<NetworkKind, Boolean>? = null

    /** What was last reported (null before the first report). */
    val last: kotlin.Pair<NetworkKind, Boolean>? @Synchronized get() = reported

    /** Reports changes to [target] too (and the current network at once, if known). */
    fun add(target: NetworkTarget) {
        targets.add(target)
        last?.let { (k, m) -> target.networkChanged(k, m) }
    }

    /** Stops reporting to [target]. */
    fun remove(target: NetworkTarget) {
        targets.remove(target)
    }

    private val callback = object : ConnectivityManager.NetworkCallback() {
        override fun onAvailable(network: Network) {
            synchronized(this@NetworkMonitor) { current = network }
            cm.getNetworkCapabilities(network)?.let { update(network, it) }
        }

        override fun onCapabilitiesChanged(network: Network, caps: NetworkCapabilities) {
            update(network, caps)
        }

        override fun onLost(network: Network) {
            val lost = synchronized(this@NetworkMonitor) {
                if (network != current) return
                current = null
                true
            }
            if (lost) report(NetworkKind.NONE, false)
        }
    }

    /** Registers with ConnectivityManager; changes are reported from now on. */
    @Synchronized
    fun start() {
        if (registered) return
        cm.registerDefaultNetworkCallback(callback)
        registered = true
    }

    /** Unregisters; no more reports. */
    @Synchronized
    override fun close() {
        if (!registered) return
        registered = false
        try {
            cm.unregisterNetworkCallback(callback)
        } catch (e: IllegalArgumentException) {
            Log.w(TAG, "network callback was not registered: $e")
        }
    }

    private fun update(network: Network, caps: NetworkCapabilities) {
        synchronized(this) {
            if (network != current) current = network
        }
        report(kindOf(caps), !caps.hasCapability(NetworkCapabilities.NET_CAPABILITY_NOT_METERED))
    }

    private fun report(kind: NetworkKind, metered: Boolean) {
        val now = kind to metered
        synchronized(this) {
            if (reported == now) return
            reported = now
        }
        for (t in targets) t.networkChanged(kind, metered)
    }

    companion object {
        private const val TAG = "pinhole"

        /** The kind a network's transports make it (VPN first: it rides on another). */
        fun kindOf(caps: NetworkCapabilities): NetworkKind = when {
            caps.hasTransport(NetworkCapabilities.TRANSPORT_VPN) -> NetworkKind.OTHER
            caps.hasTransport(NetworkCapabilities.TRANSPORT_WIFI) -> NetworkKind.WIFI
            caps.hasTransport(NetworkCapabilities.TRANSPORT_CELLULAR) -> NetworkKind.CELLULAR
            caps.hasTransport(NetworkCapabilities.TRANSPORT_ETHERNET) -> NetworkKind.ETHERNET
            else -> NetworkKind.OTHER
        }
    }
}
