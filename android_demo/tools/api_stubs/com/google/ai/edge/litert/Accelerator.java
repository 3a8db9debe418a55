// Stub of com.google.ai.edge.litert:litert:2.2.0, only the members the app calls, with their published signatures:
// google-ai-edge/LiteRT tag v2.2.0, litert/kotlin/src/main/kotlin/com/google/ai/edge/litert/Common.kt
package com.google.ai.edge.litert; public enum Accelerator { NONE, CPU, GPU, NPU }
