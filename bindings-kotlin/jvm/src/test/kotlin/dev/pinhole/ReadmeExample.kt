// The README's "Using Pinhole from Kotlin/Android" example, verbatim between the markers
// (scripts/test-mobile.sh checks that the README shows exactly this; ReadmeExampleTest runs it).
// README-BEGIN
import dev.pinhole.Session
import dev.pinhole.ffi.SessionConfig
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.receiveAsFlow
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking

fun main() = runBlocking {
    val config = SessionConfig(bind = listOf("127.0.0.1")) // both on this machine; omit on real networks
    Session(config).use { alice ->
        Session(config).use { bob ->
            val toAlice = Channel<String>(Channel.UNLIMITED) // stand-ins for your signaling channel
            val toBob = Channel<String>(Channel.UNLIMITED)
            launch { alice.connect(toBob::send, toAlice.receiveAsFlow()) }
            bob.connect(toAlice::send, toBob.receiveAsFlow())
            alice.awaitConnected()
            alice.send("hello".toByteArray())
            println(String(bob.receive()!!)) // hello
        }
    }
}
// README-END
