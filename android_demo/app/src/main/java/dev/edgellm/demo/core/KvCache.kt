package dev.edgellm.demo.core

import java.nio.FloatBuffer

/** One contiguous run of [count] floats: from offset [from] of a call's new-row output to offset [to] of the cache. */
data class RowSpan(val from: Int, val to: Int, val count: Int)

/**
 * Where the first [n] of the [rows] new rows a call computed go in the cache of [spec], at positions [start]...
 * The cache is [spec].shape with the positions along sequenceAxis; the output has the same shape with [rows]
 * there. Everything before the axis is "outer", everything after it one row ("inner" floats).
 *
 * Worked example, SmolLM2's k cache [3, 256, 64] (axis 1): a decode step (rows 1) at position 70 writes
 * 3 spans of 64 floats: output [0, 64) -> cache (0*256 + 70)*64 = 4480, [64, 128) -> (1*256 + 70)*64 = 20864,
 * [128, 192) -> (2*256 + 70)*64 = 37248. A v cache laid out [3, 64, 256] (axis 2) gets 192 spans of 1 float.
 */
fun newRowSpans(spec: KvSpec, rows: Int, start: Int, n: Int): List<RowSpan> {
    val axis = spec.sequenceAxis
    val length = spec.shape[axis]
    require(n in 0..rows && start >= 0 && start + n <= length) { "rows [$start, ${start + n}) of $rows do not fit the cache axis of $length" }
    val outer = spec.shape.take(axis).fold(1) { a, d -> a * d }
    val inner = spec.shape.drop(axis + 1).fold(1) { a, d -> a * d }
    return List(outer) { o -> RowSpan(o * rows * inner, (o * length + start) * inner, n * inner) }
}

/**
 * A runtime that holds the KV cache tensors itself (LiteRT's CompiledModel on the phone, LiteRtCompiledBackend):
 * the session binds them once, every signature reads the same ones, and after each call the session hands over
 * only the new rows, as edgellm's Python `compiled` runner does. [run] then gets the token ids and positions
 * only, never the cache.
 */
interface BoundCacheBackend : ModelBackend {
    /** Once, before the first [run]: the cache inputs every signature reads, name -> float count. */
    fun bindCache(tensors: Map<String, Int>)

    /** Copies [spans] of [rows] (a call's k_new/v_new output, read from offset 0) into the bound cache [name]. */
    fun writeRows(name: String, rows: FloatBuffer, spans: List<RowSpan>)

    /** Zeroes every bound cache tensor: masked rows still enter the products (with weight 0, and 0 x NaN is NaN). */
    fun zeroCache()
}
