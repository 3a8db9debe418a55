package dev.edgellm.demo.core

import org.junit.Assert.assertEquals
import org.junit.Test

class ChatRuntimeTest {
    @Test
    fun streamTimerMeasuresFirstChunkAndRate() {
        var now = 0L
        val timer = StreamTimer { now }
        timer.start()
        now = 250_000_000 // first chunk after 250 ms
        timer.chunk("Paris")
        for (i in 1..10) {
            now += 20_000_000 // then one chunk every 20 ms
            timer.chunk(" is")
        }
        val stats = timer.finish(kvTokens = 42)
        assertEquals(StreamStats(250.0, 450.0, 11, 35, 42), stats)
        assertEquals(50.0, stats.chunksPerSecond, 1e-9)
        assertEquals("first text 250 ms, reply 450 ms, 11 chunks (50.0 chunks/s after the first), 35 characters, KV cache 42 tokens (prompt + reply)", stats.describe())
    }

    @Test
    fun aReplyWithoutTextHasNoRate() {
        var now = 0L
        val timer = StreamTimer { now }
        timer.start()
        now = 5_000_000
        val stats = timer.finish()
        assertEquals(0.0, stats.firstChunkMs, 0.0)
        assertEquals(0.0, stats.chunksPerSecond, 0.0)
    }
}
