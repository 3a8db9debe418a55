package dev.edgellm.demo.core

import kotlin.math.exp
import kotlin.math.sqrt

/**
 * cos(a, b) = a·b / (|a| |b|), accumulated in double. Example: [1, 0] vs [1, 1] -> 0.7071.
 * Undefined for a zero vector, which is reported rather than returned as NaN.
 */
fun cosineSimilarity(a: FloatArray, b: FloatArray): Double {
    if (a.size != b.size) throw TensorException("cannot compare vectors of ${a.size} and ${b.size} values")
    if (a.isEmpty()) throw TensorException("cannot compare empty vectors")
    var dot = 0.0
    var na = 0.0
    var nb = 0.0
    for (i in a.indices) {
        dot += a[i].toDouble() * b[i]
        na += a[i].toDouble() * a[i]
        nb += b[i].toDouble() * b[i]
    }
    if (na == 0.0 || nb == 0.0) throw TensorException("cosine similarity is undefined for an all-zero vector")
    return dot / (sqrt(na) * sqrt(nb))
}

/** Numerically stable softmax (the max is subtracted first). */
fun softmax(logits: FloatArray): FloatArray {
    if (logits.isEmpty()) return logits
    val max = logits.max()
    val e = DoubleArray(logits.size) { exp((logits[it] - max).toDouble()) }
    val sum = e.sum()
    return FloatArray(logits.size) { (e[it] / sum).toFloat() }
}

/** Indices of the [k] largest values, largest first; ties keep the lower index first. */
fun topK(values: FloatArray, k: Int): List<Int> =
    values.indices.sortedWith(compareByDescending<Int> { values[it] }.thenBy { it }).take(k)

fun argmax(values: FloatArray): Int = topK(values, 1).firstOrNull() ?: throw TensorException("argmax of an empty vector")

/**
 * Average of the hidden states whose attention mask is 1, what sentence-transformers does for MiniLM.
 * [hidden] is [sequenceLength, hiddenSize] row-major (batch 1).
 */
fun meanPool(hidden: FloatArray, attentionMask: IntArray, hiddenSize: Int): FloatArray {
    if (hidden.size != attentionMask.size * hiddenSize) {
        throw TensorException("hidden states hold ${hidden.size} values; ${attentionMask.size} positions x $hiddenSize expected ${attentionMask.size * hiddenSize}")
    }
    val out = DoubleArray(hiddenSize)
    var count = 0
    for (pos in attentionMask.indices) {
        if (attentionMask[pos] == 0) continue
        count++
        for (j in 0 until hiddenSize) out[j] += hidden[pos * hiddenSize + j].toDouble()
    }
    if (count == 0) throw TensorException("mean pooling needs at least one unmasked position")
    return FloatArray(hiddenSize) { (out[it] / count).toFloat() }
}

/** Row [row] of a [rows, cols] row-major matrix. */
fun rowOf(matrix: FloatArray, row: Int, cols: Int): FloatArray = matrix.copyOfRange(row * cols, (row + 1) * cols)
