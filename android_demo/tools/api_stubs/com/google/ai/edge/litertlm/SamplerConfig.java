// Stub of com.google.ai.edge.litertlm:litertlm-android (version in app/build.gradle.kts), only the members the app calls:
// google-ai-edge/LiteRT-LM kotlin/java/com/google/ai/edge/litertlm/Config.kt: data class SamplerConfig(topK: Int, topP: Double, temperature: Double, seed: Int = 0)
package com.google.ai.edge.litertlm; public final class SamplerConfig { public SamplerConfig(int topK, double topP, double temperature, int seed) {} }
