package dev.edgellm.demo.core

import java.util.Locale

/** String.format with fixed '.' decimals whatever the phone's locale, so outputs and tests agree. */
internal fun fmt(pattern: String, vararg args: Any?): String = String.format(Locale.ROOT, pattern, *args)

/** 22900000 -> "21.8 MiB"; 512 -> "512 B". */
fun formatBytes(bytes: Long): String = when {
    bytes < 1024 -> "$bytes B"
    bytes < 1024 * 1024 -> fmt("%.1f KiB", bytes / 1024.0)
    else -> fmt("%.1f MiB", bytes / (1024.0 * 1024.0))
}

/**
 * The few lines the app shows at the top after loading an export folder, e.g.
 *   task: sentence-embedding (bert)
 *   recipe: int8-dynamic, 21.8 MiB
 *   validation: passed (min_cosine 0.99; embedding mean_cosine 0.998, max_abs 0.01)
 *   lengths: 16, 32, 128 (signatures seq_16, seq_32, seq_128)
 */
fun summarize(manifest: Manifest): List<String> {
    val lines = ArrayList<String>()
    lines.add("task: ${manifest.task.wireName} (${manifest.modelType})")
    val recipe = manifest.quantizationRecipe ?: "float (not quantized)"
    lines.add("recipe: $recipe" + (manifest.sizeBytes?.let { ", ${formatBytes(it)}" } ?: ""))
    lines.add(
        "validation: " + when (val v = manifest.validation) {
            null -> "not run"
            else -> {
                val verdict = when (v.passed) {
                    true -> "passed"
                    false -> "FAILED"
                    null -> "no verdict"
                }
                val details = ArrayList<String>()
                if (v.tolerance.isNotEmpty()) details.add(v.tolerance.entries.joinToString(", ") { "${it.key} ${num(it.value)}" })
                for ((output, metrics) in v.metrics) {
                    details.add("$output " + metrics.entries.joinToString(", ") { "${it.key} ${num(it.value)}" })
                }
                if (details.isEmpty()) verdict else "$verdict (${details.joinToString("; ")})"
            }
        },
    )
    val sorted = manifest.signatures.sortedBy { it.sequenceLength }
    lines.add(
        "lengths: ${sorted.joinToString(", ") { it.sequenceLength.toString() }} " +
            "(signature${if (sorted.size > 1) "s" else ""} ${sorted.joinToString(", ") { it.name }})",
    )
    if (manifest.labels.isNotEmpty()) {
        lines.add("labels: " + manifest.labels.entries.sortedBy { it.key }.joinToString(", ") { it.value })
    }
    return lines
}

private fun num(x: Double): String = if (x == Math.rint(x) && Math.abs(x) < 1e15) x.toLong().toString() else fmt("%.4g", x).trimEnd('0').trimEnd('.')
