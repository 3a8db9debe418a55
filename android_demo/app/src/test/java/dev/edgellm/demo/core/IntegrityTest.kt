package dev.edgellm.demo.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

class IntegrityTest {
    /** An encoder export folder whose edgellm.json records the files as `edgellm.bundle` does; returns it. */
    private fun folder(withFiles: Boolean = true): File {
        val dir = tempDir()
        File(dir, "model.tflite").writeBytes(ByteArray(1000) { (it * 7).toByte() })
        File(dir, "vocab.txt").writeText(TEST_VOCAB_TOKENS.joinToString("\n"))
        val names = listOf("model.tflite", "vocab.txt")
        val files = names.joinToString(", ") { n ->
            val f = File(dir, n)
            "\"$n\": {\"size\": ${f.length()}, \"sha256\": \"${Integrity.sha256Hex(f)}\"}"
        }
        val manifest = exampleManifestJson().replace(
            "\"files\": [\"tokenizer.json\", \"vocab.txt\", \"tokenizer_config.json\", \"special_tokens_map.json\"]",
            "\"files\": [\"vocab.txt\"]",
        )
        val text = if (withFiles) manifest.trimEnd().removeSuffix("}") + ", \"files\": {$files}}" else manifest
        File(dir, "edgellm.json").writeText(text)
        return dir
    }

    @Test
    fun sha256IsTheStandardDigest() {
        val f = File(tempDir(), "abc").also { it.writeText("abc") }
        // FIPS 180-2's example
        assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", Integrity.sha256Hex(f))
    }

    @Test
    fun matchingFilesLoadAndTheSummarySaysWhatWasChecked() {
        val opened = ExportFolder.open(folder())
        assertEquals(listOf("model.tflite", "vocab.txt"), opened.integrity.checked)
        assertNull(opened.integrity.warning)
        assertTrue(opened.integrity.describe(), opened.integrity.describe().startsWith("files: 2 checked against edgellm.json (size + sha256)"))
    }

    @Test
    fun aChangedByteIsRefusedNamingTheFile() {
        val dir = folder()
        val model = File(dir, "model.tflite")
        val bytes = model.readBytes()
        bytes[500] = (bytes[500] + 1).toByte() // same size, different content
        model.writeBytes(bytes)
        assertThrowsWith<ModelFileException>("model.tflite: sha256", "differs from edgellm.json", "copy it again") { ExportFolder.open(dir) }
    }

    @Test
    fun aCutShortFileIsRefusedBeforeHashing() {
        val dir = folder()
        File(dir, "vocab.txt").writeText("[PAD]")
        var hashed = 0
        val records = Integrity.records(File(dir, "edgellm.json").readText())
        assertThrowsWith<ModelFileException>("vocab.txt: 5 bytes, edgellm.json says", "cut short") {
            Integrity.check(dir, records, listOf("vocab.txt")) { hashed++; "" }
        }
        assertEquals(0, hashed)
    }

    @Test
    fun aMissingOrUnlistedFileIsRefused() {
        val dir = folder()
        val records = Integrity.records(File(dir, "edgellm.json").readText())
        assertThrowsWith<ModelFileException>("tokenizer.json: not listed in edgellm.json's 'files'") {
            Integrity.check(dir, records, listOf("tokenizer.json"))
        }
        File(dir, "vocab.txt").delete()
        assertThrowsWith<ModelFileException>("vocab.txt: missing from", "copy the whole export folder") {
            Integrity.check(dir, records, listOf("model.tflite", "vocab.txt"))
        }
    }

    @Test
    fun anOlderManifestWithoutFilesLoadsWithAWarning() {
        val opened = ExportFolder.open(folder(withFiles = false))
        assertTrue(opened.integrity.checked.isEmpty())
        assertTrue(opened.integrity.describe(), opened.integrity.describe().startsWith("files: NOT CHECKED (edgellm.json records no file sizes or hashes"))
    }

    @Test
    fun aMalformedFilesSectionIsAManifestError() {
        assertThrowsWith<ManifestException>("\$.files.model.tflite.sha256 is not 64 hex digits") {
            Integrity.records("""{"files": {"model.tflite": {"size": 3, "sha256": "xyz"}}}""")
        }
        assertThrowsWith<ManifestException>("\$.files.model.tflite.size is missing") {
            Integrity.records("""{"files": {"model.tflite": {"sha256": "${"0".repeat(64)}"}}}""")
        }
        assertNull(Integrity.records("""{"format_version": 1}"""))
    }

    @Test
    fun llmFoldersCheckModelAndTokenizerAndTheLitertlmBundleOnDemand() {
        val dir = tempDir()
        File(dir, "model.tflite").writeBytes(ByteArray(64) { it.toByte() })
        File(dir, "tokenizer.json").writeText("{}")
        File(dir, "model.litertlm").writeBytes(ByteArray(32))
        val files = listOf("model.tflite", "tokenizer.json", "model.litertlm").joinToString(", ") { n ->
            val f = File(dir, n)
            "\"$n\": {\"size\": ${f.length()}, \"sha256\": \"${Integrity.sha256Hex(f)}\"}"
        }
        File(dir, "edgellm.json").writeText(llmManifestJson().trimEnd().removeSuffix("}") + ", \"files\": {$files}}")
        val opened = LlmFolder.open(dir)
        assertEquals(listOf("model.tflite", "tokenizer.json"), opened.integrity.checked)
        assertEquals("model.litertlm", opened.litertlmFile().name)
        File(dir, "model.litertlm").writeBytes(ByteArray(31))
        assertThrowsWith<ModelFileException>("model.litertlm: 31 bytes, edgellm.json says 32") { opened.litertlmFile() }
        File(dir, "tokenizer.json").writeText("[]")
        assertThrowsWith<ModelFileException>("tokenizer.json: sha256") { LlmFolder.open(dir) }
    }
}
