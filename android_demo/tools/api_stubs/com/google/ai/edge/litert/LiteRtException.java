// Stub of com.google.ai.edge.litert:litert:2.2.0, only the members the app calls, with their published signatures:
// google-ai-edge/LiteRT tag v2.2.0, litert/kotlin/src/main/kotlin/com/google/ai/edge/litert/LiteRtException.kt (a Kotlin class extending Exception)
package com.google.ai.edge.litert; public class LiteRtException extends Exception { public LiteRtException(String m) { super(m); } }
