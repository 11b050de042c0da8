// In the root package, like the README example it runs.
import java.io.ByteArrayOutputStream
import java.io.PrintStream
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Test

class ReadmeExampleTest {
    @Test
    fun `the README's Kotlin example connects two sessions and prints hello`() {
        val out = ByteArrayOutputStream()
        val stdout = System.out
        System.setOut(PrintStream(out, true))
        try {
            main()
        } finally {
            System.setOut(stdout)
        }
        assertEquals("hello", out.toString().trim())
    }
}
