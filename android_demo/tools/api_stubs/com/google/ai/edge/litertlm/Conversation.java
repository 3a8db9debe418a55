// Stub of com.google.ai.edge.litertlm:litertlm-android (version in app/build.gradle.kts), only the members the app calls:
// google-ai-edge/LiteRT-LM kotlin/java/com/google/ai/edge/litertlm/Conversation.kt (read at commit 004ee26c): sendMessageAsync(text: String, callback: MessageCallback, ...) @JvmOverloads,
// getTokenCount(), cancelProcess(), close()
package com.google.ai.edge.litertlm; public final class Conversation implements AutoCloseable { public void sendMessageAsync(String text, MessageCallback callback) {} public int getTokenCount() { return 0; } public void cancelProcess() {} @Override public void close() {} }
