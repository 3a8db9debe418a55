// Stub of com.google.ai.edge.litertlm:litertlm-android (version in app/build.gradle.kts), only the members the app calls:
// google-ai-edge/LiteRT-LM kotlin/java/com/google/ai/edge/litertlm/Config.kt (read at commit 0d05de39): sealed class Backend; data class CPU(threadCount: Int? = null, ...), class GPU, data class NPU(nativeLibraryDir)
package com.google.ai.edge.litertlm;
public abstract class Backend { public static final class CPU extends Backend { public CPU(Integer threadCount) {} } public static final class GPU extends Backend { public GPU() {} } public static final class NPU extends Backend { public NPU(String nativeLibraryDir) {} } }
