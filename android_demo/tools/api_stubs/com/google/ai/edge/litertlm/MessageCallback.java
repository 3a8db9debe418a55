// Stub of com.google.ai.edge.litertlm:litertlm-android (version in app/build.gradle.kts), only the members the app calls:
// google-ai-edge/LiteRT-LM kotlin/java/com/google/ai/edge/litertlm/Conversation.kt: interface MessageCallback { onMessage(message: Message); onDone(); onError(throwable: Throwable) }
package com.google.ai.edge.litertlm; public interface MessageCallback { void onMessage(Message message); void onDone(); void onError(Throwable throwable); }
