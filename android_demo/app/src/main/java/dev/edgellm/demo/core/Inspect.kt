package dev.edgellm.demo.core

import java.io.File
import kotlin.system.exitProcess

/**
 * JVM command line over the same code the app runs, for checking an export folder off the phone:
 *   java -cp <classes>:<kotlin-stdlib.jar> dev.edgellm.demo.core.InspectKt OUTPUT_DIR [TEXT ...]
 * prints the manifest summary, then for each TEXT the bucket it would run on, its wordpieces and input_ids
 * (one line each, tab-separated), so a test on the Python side can compare them with Hugging Face's tokenizer.
 * Exit code 0, or 2 with one line on stderr for an error.
 */
fun main(args: Array<String>) {
    if (args.isEmpty()) {
        System.err.println("usage: InspectKt OUTPUT_DIR [TEXT ...]")
        exitProcess(2)
    }
    try {
        val folder = ExportFolder.open(File(args[0]))
        summarize(folder.manifest).forEach { println(it) }
        println(folder.integrity.describe())
        if (args.size > 1) {
            val tokenizer = folder.loadTokenizer()
            for (text in args.drop(1)) {
                val pieces = tokenizer.tokenize(text)
                val choice = selectBucket(folder.manifest.signatures, tokenizer.neededLength(pieces))
                val encoding = tokenizer.encode(pieces, choice.signature.sequenceLength)
                println("bucket\t${choice.signature.name}\t${choice.signature.sequenceLength}\t${if (choice.truncated) "truncated" else "fits"}")
                println("tokens\t${encoding.tokens.joinToString(" ")}")
                println("input_ids\t${encoding.inputIds.take(encoding.length).joinToString(" ")}")
            }
        }
    } catch (e: EdgeDemoException) {
        System.err.println("error: ${e.message}")
        exitProcess(2)
    }
}
