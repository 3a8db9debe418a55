// Stub of com.google.ai.edge.litertlm:litertlm-android (version in app/build.gradle.kts): the native layer's error,
// a Kotlin class extending RuntimeException (google-ai-edge/LiteRT-LM kotlin/java/com/google/ai/edge/litertlm/LiteRtLmJni.kt)
package com.google.ai.edge.litertlm; public class LiteRtLmJniException extends RuntimeException { public LiteRtLmJniException(String message) { super(message); } }
