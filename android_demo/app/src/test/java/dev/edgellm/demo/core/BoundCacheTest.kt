package dev.edgellm.demo.core

import org.junit.Assert.assertEquals
import org.junit.Test

class BoundCacheTest {
    private val manifest = LlmManifest.parse(llmManifestJson())

    @Test
    fun newRowSpansWorkedExampleSmolLM2() {
        // k [3, 256, 64] along axis 1: a decode step (1 row) at position 70
        val k = KvSpec("kv_k_cache_{i}", "k_new_{i}", listOf(3, 256, 64), 1)
        assertEquals(listOf(RowSpan(0, 4480, 64), RowSpan(64, 20864, 64), RowSpan(128, 37248, 64)), newRowSpans(k, rows = 1, start = 70, n = 1))
        // a prefill_32 chunk at position 32 of which 20 rows are real: row r of head h comes from (h*32 + r)*64
        assertEquals(listOf(RowSpan(0, 2048, 1280), RowSpan(2048, 18432, 1280), RowSpan(4096, 34816, 1280)), newRowSpans(k, rows = 32, start = 32, n = 20))
        // v laid out [2, 3, 16] along axis 2 (positions innermost): one float per (head, dim)
        val v = KvSpec("v", "vn", listOf(2, 3, 16), 2)
        assertEquals(List(6) { RowSpan(it * 4, it * 16 + 5, 2) }, newRowSpans(v, rows = 4, start = 5, n = 2))
        assertThrowsWith<IllegalArgumentException>("rows [15, 17) of 4 do not fit the cache axis of 16") { newRowSpans(v, rows = 4, start = 15, n = 2) }
    }

    @Test
    fun aBoundCacheGetsOnlyTheNewRowsAndGeneratesWhatTheCopySessionDoes() {
        val copy = FakeLlm()
        val prompt = intArrayOf(3, 1, 4, 1, 5, 2)
        val want = ArrayList<Int>()
        LlmSession(manifest, copy).generate(prompt, maxNewTokens = 8, stopAtEos = false) { want.add(it); true }

        val fake = FakeLlm() // checks at every call that each earlier row is in its place and later rows are zero
        val bound = HostBoundCache(fake)
        val session = LlmSession(manifest, bound)
        val got = ArrayList<Int>()
        session.generate(prompt, maxNewTokens = 8, stopAtEos = false) { got.add(it); true }
        assertEquals(want, got)
        assertEquals(copy.calls, fake.calls) // same signatures: prefill chunks, decode_8, then decode
        assertEquals(1, bound.binds)
        assertEquals(setOf("kv_k_cache_0", "kv_v_cache_0", "kv_k_cache_1", "kv_v_cache_1"), bound.caches.keys)
        // the session never passes the cache: only ids and positions
        assertEquals(setOf(setOf("tokens", "input_pos")), bound.runInputs.toSet())
        // rows written: the 6 prompt positions and the 7 new tokens fed back, each HEADS*D floats for k and for v
        // in each of 2 layers; nothing cache-sized
        val positions = prompt.size + 8 - 1
        assertEquals(positions.toLong() * 2 * 2 * HEADS * D, session.cacheFloatsWritten)
        // per write: one span per head (k: D floats each) or per (head, dim) (v: 1 float per row)
        val (name, spans) = bound.writes.last()
        assertEquals("kv_v_cache_1", name)
        assertEquals(HEADS * D, spans.size)
        assertEquals((prompt.size + 8 - 2), spans[0].to) // the last fed-back token's position, v axis innermost
    }

    @Test
    fun aSecondConversationZeroesTheBoundCache() {
        val bound = HostBoundCache(FakeLlm())
        val session = LlmSession(manifest, bound)
        session.generate(intArrayOf(1, 2, 3, 4, 5, 6), maxNewTokens = 8, stopAtEos = false)
        val a = ArrayList<Int>()
        // the fake asserts that rows not written in this conversation are zero
        session.generate(intArrayOf(7, 7), maxNewTokens = 5) { a.add(it); true }
        val b = ArrayList<Int>()
        LlmSession(manifest, FakeLlm()).generate(intArrayOf(7, 7), maxNewTokens = 5) { b.add(it); true }
        assertEquals(b, a)
        assertEquals(1, bound.binds)
    }
}
