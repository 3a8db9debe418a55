package dev.edgellm.demo.core

import java.io.File
import java.io.IOException

/**
 * An export folder written by `edgellm bundle`: edgellm.json, the .tflite model it names, tokenizer files.
 * [open] checks all three up front so the app fails with one clear line instead of inside the interpreter, and
 * checks the model and tokenizer files against the sizes and sha256 edgellm.json records ([integrity]).
 */
class ExportFolder private constructor(val dir: File, val manifest: Manifest, val integrity: IntegrityReport) {
    val modelFile: File get() = File(dir, manifest.modelFile)

    fun loadTokenizer(): BertTokenizer = try {
        loadBertTokenizer(dir, manifest.tokenizer)
    } catch (e: IOException) {
        throw ModelFileException("cannot read the tokenizer files in $dir: ${e.message}", e)
    }

    companion object {
        /**
         * The first of [candidates] that holds an edgellm.json, else the first candidate (so opening it gives the
         * "does not exist" / "no edgellm.json" error for the place the user was told to push to).
         */
        fun locate(candidates: List<File>): File {
            require(candidates.isNotEmpty()) { "no candidate folders" }
            return candidates.firstOrNull { File(it, Manifest.FILE_NAME).isFile } ?: candidates.first()
        }

        fun open(dir: File): ExportFolder {
            if (!dir.isDirectory) {
                throw ModelFileException("export folder $dir does not exist; push one, e.g. adb push out/minilm /data/local/tmp/edgellm")
            }
            val manifestFile = File(dir, Manifest.FILE_NAME)
            if (!manifestFile.isFile) {
                throw ManifestException("no ${Manifest.FILE_NAME} in $dir; is this a folder written by edgellm bundle?")
            }
            val text = try {
                manifestFile.readText(Charsets.UTF_8)
            } catch (e: IOException) {
                throw ManifestException("cannot read $manifestFile: ${e.message}", e)
            }
            val manifest = Manifest.parse(text, source = manifestFile.path)
            val model = File(dir, manifest.modelFile)
            if (!model.isFile) {
                throw ModelFileException("model file '${manifest.modelFile}' named in $manifestFile is missing; copy the whole export folder")
            }
            if (model.length() == 0L) {
                throw ModelFileException("model file $model is empty; copy the export folder again")
            }
            val integrity = Integrity.check(dir, Integrity.records(text, manifestFile.path), listOf(manifest.modelFile) + manifest.tokenizer.files)
            return ExportFolder(dir, manifest, integrity)
        }
    }
}
