package dev.edgellm.demo.core

/** The signature a text runs on, and whether its wordpieces had to be cut to fit. */
data class BucketChoice(val signature: SignatureSpec, val truncated: Boolean)

/**
 * Picks the smallest exported length that holds [neededLength] positions (wordpieces plus special tokens).
 * When none is long enough, the longest one is used and the input is truncated.
 * Example: lengths 16, 32, 128 and 20 needed -> 32; 200 needed -> 128, truncated.
 */
fun selectBucket(signatures: List<SignatureSpec>, neededLength: Int): BucketChoice {
    require(signatures.isNotEmpty()) { "a manifest always has at least one signature" }
    val fitting = signatures.filter { it.sequenceLength >= neededLength }.minByOrNull { it.sequenceLength }
    if (fitting != null) return BucketChoice(fitting, truncated = false)
    return BucketChoice(signatures.maxBy { it.sequenceLength }, truncated = true)
}

/**
 * The key to pass to the interpreter for [wanted]: the same name when the model has it; the model's only
 * signature when it has just one (an exporter may name it differently); otherwise an error listing the keys.
 */
fun resolveSignatureKey(wanted: String, modelKeys: List<String>): String {
    if (wanted in modelKeys) return wanted
    if (modelKeys.size == 1) return modelKeys[0]
    throw TensorException(
        "signature '$wanted' from edgellm.json is not in the model; the model has: " +
            (if (modelKeys.isEmpty()) "none" else modelKeys.joinToString(", ")) + ". Re-export the folder.",
    )
}
