package dev.edgellm.demo

import android.content.Context
import android.content.Intent
import dev.edgellm.demo.core.ExportFolder
import dev.edgellm.demo.core.ModelFileException
import java.io.File
import java.io.IOException

/**
 * Where an export folder can be, in the order tried:
 *   1. the "export_dir" string extra of the launch intent (adb shell am start ... --es export_dir /path);
 *   2. /data/local/tmp/edgellm (adb push out/minilm /data/local/tmp/edgellm);
 *   3. the app's external files dir, /sdcard/Android/data/dev.edgellm.demo/files/edgellm;
 *   4. assets/edgellm/ bundled in the APK, copied to the app's files dir (once per installed APK).
 * Call it off the main thread: step 4 copies the model.
 */
object ExportLocator {
    const val EXTRA_EXPORT_DIR = "export_dir"
    private const val ASSET_DIR = "edgellm"

    fun defaultDir(context: Context, intent: Intent?): File {
        val candidates = ArrayList<File>()
        intent?.getStringExtra(EXTRA_EXPORT_DIR)?.let { candidates.add(File(it)) }
        candidates.add(File("/data/local/tmp/edgellm"))
        context.getExternalFilesDir(null)?.let { candidates.add(File(it, ASSET_DIR)) }
        bundledCopy(context)?.let { candidates.add(it) }
        return ExportFolder.locate(candidates)
    }

    /** Copies assets/edgellm/ to files/edgellm/ unless this APK's copy is already there; null when nothing is bundled. */
    private fun bundledCopy(context: Context): File? {
        val names = try {
            context.assets.list(ASSET_DIR)?.toList().orEmpty()
        } catch (e: IOException) {
            emptyList()
        }
        if (names.isEmpty()) return null
        val target = File(context.filesDir, ASSET_DIR)
        @Suppress("DEPRECATION") // getPackageInfo(String, PackageInfoFlags) needs API 33
        val installed = context.packageManager.getPackageInfo(context.packageName, 0).lastUpdateTime
        val stamp = File(target, ".copied_from_apk")
        if (stamp.isFile && stamp.readText() == installed.toString()) return target
        try {
            target.mkdirs()
            for (name in names) {
                val tmp = File(target, "$name.part")
                context.assets.open("$ASSET_DIR/$name").use { input -> tmp.outputStream().use { input.copyTo(it) } }
                if (!tmp.renameTo(File(target, name))) throw IOException("cannot rename $tmp")
            }
            stamp.writeText(installed.toString())
        } catch (e: IOException) {
            throw ModelFileException("cannot copy the bundled export folder to $target: ${e.message}", e)
        }
        return target
    }
}
