package dev.edgellm.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/** Lookup speculative decoding in LlmSession (core/Speculative.kt) on the fake LLM with verify_2 and verify_4. */
class SpeculativeTest {
    private val manifest = LlmManifest.parse(llmManifestJson(verify = listOf(2, 4)))

    /** Period 3 (the token three back), except at every fifth position: drafts copied from the text often hold. */
    private val mostlyPeriodic: (List<Int>) -> Int = { seq -> if (seq.size % 5 == 0 || seq.size < 3) sumRule(seq) else seq[seq.size - 3] }

    private fun expected(prompt: IntArray, n: Int, rule: (List<Int>) -> Int): List<Int> {
        val seq = prompt.toMutableList()
        repeat(n) { seq.add(rule(seq)) }
        return seq.drop(prompt.size)
    }

    private fun run(session: LlmSession, prompt: IntArray, n: Int, speculative: SpeculativeConfig? = SpeculativeConfig(), sampling: SamplingConfig = SamplingConfig()): Pair<List<Int>, GenerationStats> {
        val got = ArrayList<Int>()
        val stats = session.generate(prompt, n, sampling, stopAtEos = false, speculative = speculative) { got.add(it); true }
        return got to stats
    }

    @Test
    fun lookupDraftsTheLatestContinuationOfTheLongestNgram() {
        // each answer is what edgellm.generate.speculative.LookupDrafter().propose gives for the same text
        assertEquals(listOf(7, 8, 9), LookupDrafter().propose(listOf(5, 6, 7, 8, 9, 5, 6), 3))
        // "2 3" occurred twice: the latest continuation wins
        assertEquals(listOf(5, 2, 3), LookupDrafter().propose(listOf(1, 2, 3, 4, 2, 3, 5, 2, 3), 3))
        // "7 2 3" (3 tokens) beats the later "2 3"; the draft may run into the text's own end
        assertEquals(listOf(4, 8), LookupDrafter().propose(listOf(7, 2, 3, 4, 8, 2, 3, 5, 7, 2, 3), 2))
        assertEquals(listOf(7, 2, 3, 5), LookupDrafter().propose(listOf(7, 2, 3, 4, 8, 2, 3, 5, 7, 2, 3, 5), 9)) // "2 3 5" at 5..7
        assertEquals(emptyList<Int>(), LookupDrafter().propose(listOf(1, 2, 3), 4))
        // the index grows with the text: a drafter asked at every length answers as a fresh one
        val text = listOf(1, 2, 1, 3, 1, 2, 4, 1, 2, 1, 3, 3, 1)
        val growing = LookupDrafter()
        for (len in 1..text.size) assertEquals("length $len", LookupDrafter().propose(text.take(len), 3), growing.propose(text.take(len), 3))
    }

    @Test
    fun greedyLookupGivesPlainGreedyTokensWithFewerCalls() {
        val prompt = intArrayOf(3, 1, 4, 1, 5, 2)
        for (rule in listOf(::sumRule, mostlyPeriodic)) {
            val want = expected(prompt, 9, rule)
            val (plain, _) = run(LlmSession(manifest, FakeLlm(rule)), prompt, 9, speculative = null)
            assertEquals(want, plain)
            for (always in listOf(true, false)) {
                for (bound in listOf(false, true)) {
                    val fake = FakeLlm(rule) // checks every row before a call's start and every stale row after it
                    var now = 0L
                    val session = LlmSession(manifest, if (bound) HostBoundCache(fake) else fake) { now.also { now += 1_000_000 } }
                    session.alwaysDraft = always
                    val (got, stats) = run(session, prompt, 9)
                    assertEquals("always $always bound $bound", want, got)
                    assertEquals("lookup", stats.speculative)
                    // every step yields its accepted drafts and one token of the model's own
                    assertEquals(stats.newTokens - 1, stats.targetSteps + stats.acceptedTokens)
                    assertEquals(stats.verifySteps, fake.calls.count { it.startsWith("verify_") })
                    assertEquals(stats.targetSteps - stats.verifySteps, fake.calls.drop(2).count { it.startsWith("decode") } - 1)
                    assertTrue(stats.acceptedTokens <= stats.draftedTokens)
                }
            }
        }
        // the periodic text: lookup's drafts hold, so most tokens come without a call of their own (drafts of
        // every length, forced: the break every 5th token rejects the longer ones partway)
        val session = LlmSession(manifest, FakeLlm(mostlyPeriodic)).also { it.alwaysDraft = true }
        val (_, stats) = run(session, prompt, 9)
        assertTrue(stats.describe(), stats.acceptanceRate > 0.4 && stats.meanAcceptedTokensPerStep > 1.5 && stats.verifySteps > 0)
        assertTrue(stats.describe(), stats.describe().contains("lookup: ${stats.acceptedTokens} of ${stats.draftedTokens} draft tokens accepted"))
    }

    @Test
    fun lookupRunsToTheEndOfTheCacheThroughPaddedVerifyCalls() {
        for (rule in listOf(::sumRule, mostlyPeriodic)) {
            val (plain, p) = run(LlmSession(manifest, FakeLlm(rule)), intArrayOf(1, 2), 100, speculative = null)
            val fake = FakeLlm(rule)
            val (got, s) = run(LlmSession(manifest, fake).also { it.alwaysDraft = true }, intArrayOf(1, 2), 100)
            assertEquals(plain, got)
            assertEquals("cache_full", p.stopReason)
            assertEquals("cache_full", s.stopReason)
            assertEquals(C - 1, s.newTokens)
        }
    }

    @Test
    fun theCostModelBacksOffWhenDraftsFailAndProbesAgainLater() {
        val policy = DraftPolicy(maxDraft = 7, verifyLengths = listOf(2, 4, 8))
        assertEquals(0, policy.choose()) // nothing timed yet: decode first
        policy.time(DraftPolicy.DECODE, 10.0)
        policy.time(4, 12.0)
        assertEquals(3, policy.choose()) // the worked example in DraftPolicy's comment: 1.875 tokens in 12 ms
        repeat(4) { policy.observe(3, 0) }
        assertEquals(0, policy.choose())
        repeat(40) { policy.observe(0, 0) }
        assertEquals(3, policy.choose())
        repeat(10) { policy.observe(3, 3) }
        assertEquals(7, policy.choose()) // drafts that always hold: as many as verify_8 checks
    }

    @Test
    fun samplingWithLookupIsSeededAndNearZeroTemperatureIsGreedy() {
        val prompt = intArrayOf(3, 1, 4, 1, 5, 2)
        val want = expected(prompt, 9, mostlyPeriodic)
        val cold = SamplingConfig(temperature = 1e-3, seed = 1)
        val (got, stats) = run(LlmSession(manifest, FakeLlm(mostlyPeriodic)).also { it.alwaysDraft = true }, prompt, 9, sampling = cold)
        assertEquals(want, got)
        assertTrue(stats.draftedTokens > stats.acceptedTokens) // rejections drew from the rest, and got the argmax
        val warm = SamplingConfig(temperature = 1.0, seed = 7)
        val a = run(LlmSession(manifest, FakeLlm(mostlyPeriodic)).also { it.alwaysDraft = true }, prompt, 10, sampling = warm).first
        val b = run(LlmSession(manifest, FakeLlm(mostlyPeriodic)).also { it.alwaysDraft = true }, prompt, 10, sampling = warm).first
        assertEquals(a, b)
        assertEquals(10, a.size)
    }

    @Test
    fun lookupNeedsVerifySignaturesAndAFittingDraftLength() {
        val plain = LlmSession(LlmManifest.parse(llmManifestJson()), FakeLlm())
        assertThrowsWith<ConfigException>("no verify_<T> signatures", "re-export") { plain.generate(intArrayOf(1, 2), 4, speculative = SpeculativeConfig()) }
        val session = LlmSession(manifest, FakeLlm())
        assertThrowsWith<ConfigException>("draft tokens 4 is more than", "verify_4", "3 or fewer") {
            session.generate(intArrayOf(1, 2), 4, speculative = SpeculativeConfig(draftTokens = 4))
        }
        assertThrowsWith<ConfigException>("draft tokens must be >= 1") { SpeculativeConfig(draftTokens = 0) }
        assertThrowsWith<ConfigException>("'draft:small'", "lookup") { SpeculativeConfig(mode = "draft:small") }
        assertThrowsWith<ConfigException>("5 tokens do not fit a verify signature", "at most 3") { session.verify(IntArray(5), 0) }
        assertThrowsWith<ConfigException>("3 tokens at position 14 do not fit the KV cache of 16") { session.verify(IntArray(3), 14) }
        // draft length 1: every verify call is verify_2
        val fake = FakeLlm(mostlyPeriodic)
        run(LlmSession(manifest, fake).also { it.alwaysDraft = true }, intArrayOf(3, 1, 4, 1, 5, 2), 6, SpeculativeConfig(draftTokens = 1))
        assertEquals(setOf("verify_2"), fake.calls.filter { it.startsWith("verify") }.toSet())
    }

    @Test
    fun theManifestListsVerifyLengthsAndTheirSignatures() {
        assertEquals(listOf(2, 4), manifest.verifyLengths)
        assertEquals(emptyList<Int>(), LlmManifest.parse(llmManifestJson()).verifyLengths) // older exports: no key
        assertTrue(manifest.summary().any { it.endsWith("verify 2, 4") })
        val missing = llmManifestJson(verify = listOf(2, 4)).replace("\"verify_lengths\": [2, 4]", "\"verify_lengths\": [2, 4, 8]")
        assertThrowsWith<ManifestException>("verify_8", "re-export") { LlmManifest.parse(missing) }
    }
}
