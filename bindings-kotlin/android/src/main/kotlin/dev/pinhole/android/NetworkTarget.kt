package dev.pinhole.android

import dev.pinhole.Session
import dev.pinhole.ffi.NetworkKind

/**
 * What the Android glue reports network changes to: a [Session] (see [asNetworkTarget]), or
 * anything that forwards to sessions.
 */
fun interface NetworkTarget {
    /** The default network is now of [kind] ([metered]: the user pays per byte). */
    fun networkChanged(kind: NetworkKind, metered: Boolean)
}

/** This session as a [NetworkTarget] (a closed session ignores later changes). */
fun Session.asNetworkTarget(): NetworkTarget = NetworkTarget { kind, metered ->
    try {
        networkChanged(kind, metered)
    } catch (_: dev.pinhole.ffi.PinholeException.Closed) {
        // Closed while the callback was on its way: nothing to move.
    }
}
