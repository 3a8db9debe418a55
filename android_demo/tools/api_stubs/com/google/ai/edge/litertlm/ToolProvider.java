// Stub of com.google.ai.edge.litertlm:litertlm-android (version in app/build.gradle.kts), only the members the app calls:
// google-ai-edge/LiteRT-LM kotlin/java/com/google/ai/edge/litertlm/ (only named by ConversationConfig's signature)
package com.google.ai.edge.litertlm; public interface ToolProvider {}
