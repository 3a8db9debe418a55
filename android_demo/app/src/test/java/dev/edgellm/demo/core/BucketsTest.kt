package dev.edgellm.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test

class BucketsTest {
    private fun sig(name: String, length: Int) = SignatureSpec(name, length, emptyList(), emptyList())

    // Deliberately unsorted: the manifest's order must not matter.
    private val buckets = listOf(sig("seq_128", 128), sig("seq_16", 16), sig("seq_32", 32))

    @Test
    fun picksTheSmallestLengthThatFits() {
        assertEquals("seq_16", selectBucket(buckets, 2).signature.name)
        assertEquals("seq_16", selectBucket(buckets, 16).signature.name) // exactly full fits
        assertEquals("seq_32", selectBucket(buckets, 17).signature.name)
        assertEquals("seq_32", selectBucket(buckets, 20).signature.name)
        assertEquals("seq_128", selectBucket(buckets, 33).signature.name)
        assertFalse(selectBucket(buckets, 128).truncated)
    }

    @Test
    fun fallsBackToTheLongestAndTruncates() {
        val choice = selectBucket(buckets, 200)
        assertEquals("seq_128", choice.signature.name)
        assertTrue(choice.truncated)
    }

    @Test
    fun singleServingDefault() {
        val only = listOf(sig("serving_default", 128))
        assertEquals("serving_default", selectBucket(only, 5).signature.name)
        assertTrue(selectBucket(only, 129).truncated)
    }

    @Test
    fun signatureKeyResolution() {
        assertEquals("seq_32", resolveSignatureKey("seq_32", listOf("seq_16", "seq_32")))
        assertEquals("main", resolveSignatureKey("serving_default", listOf("main")))
        assertThrowsWith<TensorException>("signature 'seq_64'", "the model has: seq_16, seq_32") {
            resolveSignatureKey("seq_64", listOf("seq_16", "seq_32"))
        }
    }

    @Test
    fun bucketChoiceFollowsTokenizedLength() {
        val tok = testTokenizer()
        // "hello , world !" is 4 pieces + [CLS] + [SEP] = 6 positions.
        val needed = tok.neededLength(tok.tokenize("Hello, world!"))
        assertEquals(6, needed)
        val choice = selectBucket(listOf(sig("seq_4", 4), sig("seq_6", 6), sig("seq_8", 8)), needed)
        assertEquals("seq_6", choice.signature.name)
    }
}
