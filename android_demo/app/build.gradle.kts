plugins {
    id("com.android.application")
}

android {
    namespace = "dev.edgellm.demo"
    compileSdk = 36

    defaultConfig {
        applicationId = "dev.edgellm.demo"
        minSdk = 24 // LiteRT 2.x AARs declare 23-24
        targetSdk = 36
        versionCode = 1
        versionName = "0.1.0"
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    // An export folder bundled under src/main/assets/edgellm/ is copied out at first start; an uncompressed
    // .tflite copies faster.
    androidResources {
        noCompress += listOf("tflite", "litertlm")
    }
}

dependencies {
    // LiteRT (formerly TensorFlow Lite): CompiledModel/TensorBuffer/Accelerator (com.google.ai.edge.litert) and
    // org.tensorflow.lite.Interpreter, the fallback. tools/api_stubs follow this version's Kotlin sources (tag v2.2.0).
    implementation("com.google.ai.edge.litert:litert:2.2.0")

    // LiteRT-LM, the second chat runtime (Engine, Conversation, sendMessageAsync with a MessageCallback) on the
    // export's model.litertlm. tools/api_stubs follow LiteRT-LM's Kotlin sources (Engine.kt, Conversation.kt,
    // Config.kt, read on its main branch); its AAR declares minSdk 24.
    implementation("com.google.ai.edge.litertlm:litertlm-android:0.18.0")

    // The same tests run_jvm_tests.sh runs, here through `gradle :app:testDebugUnitTest`.
    testImplementation("junit:junit:4.13.2")
}
