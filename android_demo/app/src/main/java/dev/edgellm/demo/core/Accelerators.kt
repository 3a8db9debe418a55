package dev.edgellm.demo.core

/** Where LiteRT's CompiledModel runs the model: the app's names for LiteRT's `Accelerator` CPU, GPU, NPU. */
enum class AcceleratorChoice(val wireName: String, val label: String) {
    CPU("cpu", "CPU (XNNPACK)"),
    GPU("gpu", "GPU"),
    NPU("npu", "NPU"),
}

/**
 * What ran: [requested], [used], and [note] saying why they differ (null when the request was met). The keys of
 * the bench JSON's `accelerator` {requested, used, note}, as `edgellm bench --accelerator` writes them.
 */
data class AcceleratorOutcome(val requested: AcceleratorChoice, val used: AcceleratorChoice, val note: String?) {
    fun describe(): String = "accelerator: ${used.label}" + (note?.let { " ($it)" } ?: "")

    fun toJson(): Map<String, Any?> = mapOf("requested" to requested.wireName, "used" to used.wireName, "note" to note)
}

/**
 * Opens the model on [requested], else on the CPU with a note of why: [available] is what the runtime reports
 * (LiteRT's Environment.getAvailableAccelerators()); [open] compiles for one accelerator and throws an
 * [EdgeDemoException] (the Android side turns LiteRtException into [AcceleratorException]) when it cannot.
 * A CPU failure is not caught: nothing is left to fall back to.
 *
 * Example: GPU requested, available {CPU, GPU}, the GPU delegate refuses an op -> the model opens on the CPU and
 * the note reads "GPU could not run this model (…); fell back to CPU".
 */
fun <T> openWithFallback(
    requested: AcceleratorChoice,
    available: Set<AcceleratorChoice>,
    open: (AcceleratorChoice) -> T,
): Pair<T, AcceleratorOutcome> {
    if (requested == AcceleratorChoice.CPU) return open(AcceleratorChoice.CPU) to AcceleratorOutcome(requested, AcceleratorChoice.CPU, null)
    if (requested !in available) {
        val seen = available.sortedBy { it.ordinal }.joinToString(", ") { it.name }.ifEmpty { "none" }
        val note = "${requested.name} is not available on this phone (LiteRT reports: $seen); fell back to CPU"
        return open(AcceleratorChoice.CPU) to AcceleratorOutcome(requested, AcceleratorChoice.CPU, note)
    }
    return try {
        open(requested) to AcceleratorOutcome(requested, requested, null)
    } catch (e: EdgeDemoException) {
        val why = e.message?.lineSequence()?.firstOrNull()?.take(160) ?: e.javaClass.simpleName
        open(AcceleratorChoice.CPU) to AcceleratorOutcome(requested, AcceleratorChoice.CPU, "${requested.name} could not run this model ($why); fell back to CPU")
    }
}
