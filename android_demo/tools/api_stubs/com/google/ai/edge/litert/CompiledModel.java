// Stub of com.google.ai.edge.litert:litert:2.2.0, only the members the app calls, with their published signatures:
// google-ai-edge/LiteRT tag v2.2.0, litert/kotlin/src/main/kotlin/com/google/ai/edge/litert/Model.kt: CompiledModel.create(filePath, options, optionalEnv), Options(vararg accelerators) with var cpuOptions,
// CpuOptions(numThreads, xnnPackFlags, xnnPackWeightCachePath), createInputBuffer/createOutputBuffer(name, signature),
// run(inputs: Map, outputs: Map, signature)
package com.google.ai.edge.litert;
public final class CompiledModel implements AutoCloseable {
    public static final class CpuOptions { public CpuOptions(Integer numThreads, Integer xnnPackFlags, String xnnPackWeightCachePath) {} }
    public static final class Options { public Options(Accelerator... accelerators) {} public CpuOptions getCpuOptions() { return null; } public void setCpuOptions(CpuOptions o) {} }
    public static CompiledModel create(String filePath, Options options, Environment optionalEnv) throws LiteRtException { return null; }
    public TensorBuffer createInputBuffer(String inputName, String signature) throws LiteRtException { return null; }
    public TensorBuffer createOutputBuffer(String outputName, String signature) throws LiteRtException { return null; }
    public void run(java.util.Map<String, TensorBuffer> inputs, java.util.Map<String, TensorBuffer> outputs, String signature) throws LiteRtException {}
    @Override public void close() {}
}
