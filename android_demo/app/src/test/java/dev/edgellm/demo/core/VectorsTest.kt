package dev.edgellm.demo.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test
import kotlin.math.sqrt

class VectorsTest {
    @Test
    fun cosineSimilarityKnownValues() {
        assertEquals(1.0, cosineSimilarity(floatArrayOf(1f, 2f, 3f), floatArrayOf(2f, 4f, 6f)), 1e-12)
        assertEquals(0.0, cosineSimilarity(floatArrayOf(1f, 0f), floatArrayOf(0f, 5f)), 1e-12)
        assertEquals(-1.0, cosineSimilarity(floatArrayOf(1f, -1f), floatArrayOf(-1f, 1f)), 1e-12)
        assertEquals(1 / sqrt(2.0), cosineSimilarity(floatArrayOf(1f, 0f), floatArrayOf(1f, 1f)), 1e-7)
    }

    @Test
    fun cosineSimilarityRefusesMismatchAndZeroVectors() {
        assertThrowsWith<TensorException>("vectors of 2 and 3 values") { cosineSimilarity(FloatArray(2), FloatArray(3)) }
        assertThrowsWith<TensorException>("all-zero vector") { cosineSimilarity(floatArrayOf(0f, 0f), floatArrayOf(1f, 1f)) }
    }

    @Test
    fun softmaxIsStableAndSumsToOne() {
        val p = softmax(floatArrayOf(1000f, 1000f, 0f))
        assertEquals(0.5f, p[0], 1e-6f)
        assertEquals(0.5f, p[1], 1e-6f)
        assertEquals(0f, p[2], 1e-6f)
        val q = softmax(floatArrayOf(0f, kotlin.math.ln(3.0).toFloat()))
        assertArrayEquals(floatArrayOf(0.25f, 0.75f), q, 1e-6f)
    }

    @Test
    fun topKAndArgmax() {
        assertEquals(listOf(1, 3, 0), topK(floatArrayOf(0.1f, 0.9f, -1f, 0.5f), 3))
        assertEquals(listOf(0, 2), topK(floatArrayOf(2f, 1f, 2f), 2)) // ties: lower index first
        assertEquals(2, argmax(floatArrayOf(-3f, -2f, -1f)))
    }

    @Test
    fun meanPoolAveragesOnlyUnmaskedPositions() {
        // 3 positions x 2 hidden, the last position is padding and must not count.
        val hidden = floatArrayOf(1f, 2f, 3f, 4f, 100f, 100f)
        assertArrayEquals(floatArrayOf(2f, 3f), meanPool(hidden, intArrayOf(1, 1, 0), 2), 0f)
        assertThrowsWith<TensorException>("at least one unmasked") { meanPool(hidden, intArrayOf(0, 0, 0), 2) }
        assertThrowsWith<TensorException>("3 positions x 4") { meanPool(hidden, intArrayOf(1, 1, 1), 4) }
    }
}
