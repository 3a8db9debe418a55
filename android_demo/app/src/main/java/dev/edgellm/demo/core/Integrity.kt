package dev.edgellm.demo.core

import java.io.File
import java.io.IOException
import java.security.MessageDigest

/** Size and sha256 (lower-case hex) of one shipped file, as edgellm.json's `files` section records it. */
data class FileRecord(val size: Long, val sha256: String)

/**
 * The outcome of checking an export's files before loading: [checked] names the files whose size and sha256
 * matched; [warning] is set (and [checked] empty) for an export written before edgellm recorded hashes.
 */
data class IntegrityReport(val checked: List<String>, val warning: String?) {
    /** One summary line for the screen: what was checked, or why nothing was. */
    fun describe(): String = warning?.let { "files: NOT CHECKED ($it)" }
        ?: "files: ${checked.size} checked against edgellm.json (size + sha256): ${checked.joinToString(", ")}"
}

/**
 * The app's side of `edgellm.manifest.verify_files`: every file the app is about to hand to LiteRT or the
 * tokenizer must have the size and sha256 edgellm.json records under `files` ({name: {size, sha256}}, names
 * relative to the folder). A mismatch is a [ModelFileException] naming the file; a manifest without `files`
 * (an older edgellm) loads with a visible warning.
 */
object Integrity {
    const val SECTION = "files"

    /** `files` of the manifest text: null when the section is absent; [ManifestException] when it is malformed. */
    fun records(manifestText: String, source: String = Manifest.FILE_NAME): Map<String, FileRecord>? {
        val root = try {
            Node(Json.parse(manifestText), "\$", present = true)
        } catch (e: JsonException) {
            throw ManifestException("$source is not valid JSON: ${e.message}; re-export the model folder", e)
        }
        if (root.value !is Map<*, *> || !root.has(SECTION)) return null
        try {
            return root[SECTION].entries().associate { (name, entry) ->
                val sha = entry["sha256"].string().lowercase()
                if (!SHA256_HEX.matches(sha)) throw ManifestException("${entry.path}.sha256 is not 64 hex digits: '${sha.take(70)}'")
                name to FileRecord(entry["size"].long(), sha)
            }
        } catch (e: ManifestException) {
            throw ManifestException("$source: ${e.message}; re-export the folder", e)
        }
    }

    /**
     * Checks [names] in [dir] against [records] (null: an older export, a warning). Size first (cheap), then
     * sha256. [sha256] is injectable for tests; the default streams the file in 1 MiB blocks.
     */
    fun check(
        dir: File,
        records: Map<String, FileRecord>?,
        names: List<String>,
        sha256: (File) -> String = ::sha256Hex,
    ): IntegrityReport {
        if (records == null) {
            return IntegrityReport(emptyList(), "${Manifest.FILE_NAME} records no file sizes or hashes (an export from an older edgellm); re-export it to have its files checked")
        }
        for (name in names.distinct()) {
            val expected = records[name]
                ?: throw ModelFileException("$name: not listed in ${Manifest.FILE_NAME}'s '$SECTION', so the export did not write it; copy the export folder again or re-export")
            val file = File(dir, name)
            if (!file.isFile) throw ModelFileException("$name: missing from $dir though ${Manifest.FILE_NAME} lists it; copy the whole export folder")
            val size = file.length()
            if (size != expected.size) {
                throw ModelFileException("$name: $size bytes, ${Manifest.FILE_NAME} says ${expected.size}: the file was changed or cut short after export; copy it again")
            }
            val actual = try {
                sha256(file)
            } catch (e: IOException) {
                throw ModelFileException("$name: cannot be read (${e.message}); check its permissions", e)
            }
            if (actual != expected.sha256) {
                throw ModelFileException("$name: sha256 ${actual.take(12)}… differs from ${Manifest.FILE_NAME}'s ${expected.sha256.take(12)}…: the file was changed after export; copy it again")
            }
        }
        return IntegrityReport(names.distinct(), null)
    }

    /** Reads [dir]'s edgellm.json and checks [names]: what ExportFolder and LlmFolder call before loading. */
    fun checkFolder(dir: File, names: List<String>): IntegrityReport {
        val manifestFile = File(dir, Manifest.FILE_NAME)
        val text = try {
            manifestFile.readText(Charsets.UTF_8)
        } catch (e: IOException) {
            throw ManifestException("cannot read $manifestFile: ${e.message}", e)
        }
        return check(dir, records(text, manifestFile.path), names)
    }

    fun sha256Hex(file: File): String {
        val digest = MessageDigest.getInstance("SHA-256")
        file.inputStream().use { input ->
            val block = ByteArray(1 shl 20)
            while (true) {
                val n = input.read(block)
                if (n < 0) break
                digest.update(block, 0, n)
            }
        }
        return digest.digest().joinToString("") { "%02x".format(it.toInt() and 0xff) }
    }

    private val SHA256_HEX = Regex("[0-9a-f]{64}")
}
