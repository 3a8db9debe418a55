package dev.edgellm.demo.core

import org.junit.Assert.assertEquals
import org.junit.Test

class LatencyStatsTest {
    @Test
    fun nearestRankPercentilesOfTheDocExample() {
        val s = LatencyStats.of(listOf(4.0, 1.0, 3.0, 2.0))
        assertEquals(4, s.count)
        assertEquals(2.5, s.meanMs, 1e-12)
        assertEquals(2.0, s.p50Ms, 0.0) // rank ceil(0.5 * 4) = 2
        assertEquals(4.0, s.p90Ms, 0.0) // rank ceil(0.9 * 4) = 4
        assertEquals(1.0, s.minMs, 0.0)
        assertEquals(4.0, s.maxMs, 0.0)
    }

    @Test
    fun percentilesAreAlwaysMeasuredValues() {
        val sorted = (1..10).map { it.toDouble() }
        assertEquals(5.0, LatencyStats.percentile(sorted, 50.0), 0.0)
        assertEquals(9.0, LatencyStats.percentile(sorted, 90.0), 0.0)
        assertEquals(10.0, LatencyStats.percentile(sorted, 91.0), 0.0)
        assertEquals(1.0, LatencyStats.percentile(sorted, 0.1), 0.0)
        assertEquals(10.0, LatencyStats.percentile(sorted, 100.0), 0.0)
        // p * n is computed before dividing by 100: 7% of 100 samples is rank 7, not 8 (0.07 * 100 = 7.000000000000001).
        assertEquals(7.0, LatencyStats.percentile((1..100).map { it.toDouble() }, 7.0), 0.0)
    }

    @Test
    fun singleSampleAndOddCount() {
        val one = LatencyStats.of(listOf(3.5))
        assertEquals(3.5, one.p50Ms, 0.0)
        assertEquals(3.5, one.p90Ms, 0.0)
        val odd = LatencyStats.of(listOf(5.0, 1.0, 3.0))
        assertEquals(3.0, odd.p50Ms, 0.0) // rank ceil(1.5) = 2
        assertEquals(5.0, odd.p90Ms, 0.0) // rank ceil(2.7) = 3
    }

    @Test
    fun rejectsNoSamplesAndBadPercentiles() {
        assertThrowsWith<IllegalArgumentException>("at least one sample") { LatencyStats.of(emptyList()) }
        assertThrowsWith<IllegalArgumentException>("(0, 100]") { LatencyStats.percentile(listOf(1.0), 0.0) }
        assertThrowsWith<IllegalArgumentException>("(0, 100]") { LatencyStats.percentile(listOf(1.0), 101.0) }
    }

    @Test
    fun describeShowsMeanAndPercentiles() {
        assertEquals(
            "n=4  mean 2.50 ms  p50 2.00 ms  p90 4.00 ms  (min 1.00, max 4.00)",
            LatencyStats.of(listOf(4.0, 1.0, 3.0, 2.0)).describe(),
        )
    }
}
