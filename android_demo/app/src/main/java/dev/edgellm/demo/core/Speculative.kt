package dev.edgellm.demo.core

import kotlin.math.pow

// Exact speculative decoding in the app's LLM session, the lookup mode of edgellm/generate/speculative.py (which
// explains the step; docs/speculative.md the cache arithmetic). One step, with the cache holding [0, p) and the
// pending token x (emitted, not yet run) at p:
//
//   draft   d_1 .. d_k                  copied from the prompt and text so far (LookupDrafter)
//   verify  [x, d_1, .., d_k] at p..    one verify_<T> call, T >= k + 1: logits L_0 .. L_k
//   accept  greedy: d_i while d_i == argmax(L_{i-1}); sampling: d_i with probability p_i(d_i)
//   emit    the accepted d_1 .. d_a, then the model's own token from L_a
//
// Greedy text is plain greedy decoding's token for token. Rejected drafts' rows stay in the cache past the
// accepted length: the next call starts at the first of them and reads cache rows before its start only.

/** The one speculative mode the app runs (`edgellm generate --speculative lookup`). */
const val LOOKUP = "lookup"

/**
 * Speculative decoding's settings, as `edgellm generate --speculative lookup [--draft-tokens K]`.
 * [draftTokens]: the most draft tokens per step; null: as many as the largest verify_<T> checks (T - 1).
 */
data class SpeculativeConfig(val mode: String = LOOKUP, val draftTokens: Int? = null) {
    init {
        if (mode != LOOKUP) throw ConfigException("speculative mode '$mode' is not available in the app; it runs 'lookup' (draft tokens copied from the prompt and the text so far)")
        if (draftTokens != null && draftTokens < 1) throw ConfigException("draft tokens must be >= 1 (verify_<T> checks up to T - 1); got $draftTokens")
    }

    /** The most draft tokens per step on [manifest]; a one-line error when it cannot verify them. */
    fun maxDraft(manifest: LlmManifest): Int {
        val most = (manifest.verifyLengths.maxOrNull() ?: 0) - 1
        if (most < 1) {
            throw ConfigException("this export has no verify_<T> signatures (exported before speculative decoding, or with --verify-lengths none); re-export it with `edgellm export` to use speculative decoding, or turn it off")
        }
        if (draftTokens != null && draftTokens > most) {
            throw ConfigException("draft tokens $draftTokens is more than the export verifies in one call ($most: its largest signature is verify_${most + 1}); ask for $most or fewer, or re-export with larger --verify-lengths")
        }
        return draftTokens ?: most
    }
}

/**
 * Prompt-lookup drafts: the longest n-gram ([maxNgram] down to [minNgram] tokens) that ends the text so far and
 * occurred before; its most recent earlier occurrence's continuation is the draft. At least 2 tokens, as edgellm's
 * LookupDrafter: one matching token is too weak a cue to draft on.
 * Text [5, 6, 7, 8, 9, 5, 6], 3 tokens: "5 6" occurred at 0..1, so the draft is [7, 8, 9].
 */
class LookupDrafter(private val maxNgram: Int = 3, private val minNgram: Int = 2) {
    // index[n]: an n-gram that has a next token -> the position of that token (the latest occurrence wins)
    private val index = List(maxNgram + 1) { HashMap<List<Int>, Int>() }
    private var indexed = 0 // ids[0, indexed) are in the index

    /** Up to [k] draft tokens after [ids] (the prompt and the text so far; it only ever grows). */
    fun propose(ids: List<Int>, k: Int): List<Int> {
        for (j in maxOf(indexed, 1) until ids.size) {
            for (n in 1..minOf(maxNgram, j)) index[n][ids.subList(j - n, j).toList()] = j
        }
        indexed = maxOf(indexed, ids.size)
        for (n in minOf(maxNgram, ids.size - 1) downTo minNgram) {
            val j = index[n][ids.subList(ids.size - n, ids.size)]
            if (j != null && j < ids.size) return ids.subList(j, minOf(j + k, ids.size)).toList()
        }
        return emptyList()
    }
}

/**
 * How many tokens to draft next, as edgellm's Policy: with acceptance rate a per draft token (a running
 * estimate), a step of k drafts yields (1 - a^(k+1)) / (1 - a) tokens for the time of one verify_<T>; plain decode
 * yields 1 for decode's time. The k with the most tokens per second wins, 0 (plain decode) when drafts keep
 * failing: it backs off, and the evidence decays back toward the prior while it decodes plainly, so it probes
 * again later. Example: decode 10 ms, verify_4 12 ms, a = 0.5: k = 3 yields 1.875 tokens in 12 ms (156/s) against
 * decode's 100/s, so it drafts 3.
 *
 * [cost]: running milliseconds per call, key [DECODE] for decode and T for verify_<T>; the session keeps it
 * across generations, as `Llm` does.
 */
class DraftPolicy(val maxDraft: Int, private val verifyLengths: List<Int>, val cost: MutableMap<Int, Double> = HashMap()) {
    private val decay = 0.8 // weight of the past per drafting step (about the last 5 steps count)
    private val idleDecay = 0.9 // per plain step: failures are forgotten, so drafting is tried again
    private val prior = 0.5 // acceptance rate before any evidence
    private val priorWeight = 0.5 // in draft tokens: a few failures outweigh it
    private var hits = 0.0 // decayed counts of accepted and rejected draft tokens
    private var misses = 0.0

    val acceptance: Double get() = (hits + prior * priorWeight) / (hits + misses + priorWeight)

    private fun verifyCost(k: Int): Double {
        val t = verifyLengths.first { it >= k + 1 }
        // unmeasured: a guess that grows with T (the weights are read once; each row adds compute)
        return cost[t] ?: (cost.getValue(DECODE) * (1 + 0.1 * (t - 1)))
    }

    fun choose(): Int {
        val decode = cost[DECODE] ?: return 0 // decode is timed first: every cost is relative to it
        val a = minOf(acceptance, 0.999)
        var best = 0
        var bestRate = 1.0 / decode
        for (k in 1..maxDraft) {
            val rate = (1 - a.pow(k + 1)) / (1 - a) / verifyCost(k)
            if (rate > bestRate) {
                best = k
                bestRate = rate
            }
        }
        return best
    }

    fun observe(drafted: Int, accepted: Int) {
        if (drafted > 0) {
            hits = decay * hits + accepted
            misses = decay * misses + (if (accepted < drafted) 1 else 0)
        } else {
            hits *= idleDecay
            misses *= idleDecay
        }
    }

    fun time(key: Int, ms: Double, weight: Double = 0.3) {
        val old = cost[key]
        cost[key] = if (old == null) ms else (1 - weight) * old + weight * ms
    }

    companion object {
        const val DECODE = 1 // cost key of decode (verify lengths are >= 2)
    }
}

/**
 * (accepted draft tokens a, the model's token after them) from verify's logits (rows of [vocab] floats, row i
 * after the i-th token given) for [drafts]. Greedy: drafts equal to the argmax are accepted, then the argmax.
 * Sampling: d_i is accepted with probability p_i(d_i) (lookup drafts are one-hot); a rejection draws from p_i
 * without d_i and ends the step; all accepted, the last token is drawn from p_k.
 */
internal fun acceptDrafts(logits: FloatArray, vocab: Int, drafts: List<Int>, sampling: SamplingConfig, sampler: Sampler): Pair<Int, Int> {
    fun row(i: Int) = logits.copyOfRange(i * vocab, (i + 1) * vocab)
    val k = drafts.size
    if (sampling.greedy) {
        var a = 0
        while (a < k && drafts[a] == argmax(logits, a * vocab, vocab)) a++
        return a to argmax(logits, a * vocab, vocab)
    }
    for ((i, d) in drafts.withIndex()) {
        val p = sampler.distribution(row(i))
        if (sampler.uniform() < minOf(1.0, p.probability(d))) continue
        val residual = p.weights.copyOf()
        val at = p.ids.indexOf(d)
        if (at >= 0) residual[at] = 0.0
        // the residual is empty only when p is one-hot at d, where a rejection cannot happen; guard against rounding
        return i to sampler.draw(p.ids, if (residual.sum() > 0) residual else p.weights)
    }
    val p = sampler.distribution(row(k))
    return k to sampler.draw(p.ids, p.weights)
}
