// Stub of com.google.ai.edge.litertlm:litertlm-android (version in app/build.gradle.kts), only the members the app calls:
// google-ai-edge/LiteRT-LM kotlin/java/com/google/ai/edge/litertlm/: a streamed chunk; its toString() is the text (the getting-started sample prints each chunk with print(it))
package com.google.ai.edge.litertlm; public final class Message { @Override public String toString() { return ""; } }
