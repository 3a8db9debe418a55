package dev.edgellm.demo.core

import kotlin.math.ceil

/**
 * Summary of latencies in milliseconds.
 *
 * Percentiles use the nearest-rank definition: the p-th percentile of n sorted samples is the sample at
 * 1-based rank ceil(p / 100 * n), i.e. the smallest sample with at least p% of all samples at or below it.
 * It is always one of the measured values (no interpolation).
 * Example: [4, 1, 3, 2] -> sorted [1, 2, 3, 4]; p50 = rank ceil(2.0) = 2 -> 2 ms; p90 = rank ceil(3.6) = 4 -> 4 ms.
 */
data class LatencyStats(
    val count: Int,
    val meanMs: Double,
    val p50Ms: Double,
    val p90Ms: Double,
    val minMs: Double,
    val maxMs: Double,
) {
    fun describe(): String =
        fmt("n=%d  mean %.2f ms  p50 %.2f ms  p90 %.2f ms  (min %.2f, max %.2f)", count, meanMs, p50Ms, p90Ms, minMs, maxMs)

    companion object {
        fun of(samplesMs: List<Double>): LatencyStats {
            if (samplesMs.isEmpty()) throw IllegalArgumentException("latency statistics need at least one sample")
            val sorted = samplesMs.sorted()
            return LatencyStats(
                count = sorted.size,
                meanMs = sorted.sum() / sorted.size,
                p50Ms = percentile(sorted, 50.0),
                p90Ms = percentile(sorted, 90.0),
                minMs = sorted.first(),
                maxMs = sorted.last(),
            )
        }

        /** Nearest-rank percentile of already sorted samples, p in (0, 100]. */
        fun percentile(sorted: List<Double>, p: Double): Double {
            require(sorted.isNotEmpty()) { "percentile of no samples" }
            require(p > 0.0 && p <= 100.0) { "percentile p must be in (0, 100], got $p" }
            // p * n first: for whole p and n the product and the division by 100 are exact (0.9 * 70 is not).
            val rank = ceil(p * sorted.size / 100.0).toInt().coerceIn(1, sorted.size)
            return sorted[rank - 1]
        }
    }
}
