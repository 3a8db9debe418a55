package dev.edgellm.demo.core

import org.junit.Assert.assertEquals
import org.junit.Test

class AcceleratorsTest {
    private val all = setOf(AcceleratorChoice.CPU, AcceleratorChoice.GPU, AcceleratorChoice.NPU)

    @Test
    fun theRequestIsMetWhenTheAcceleratorOpensTheModel() {
        val tried = ArrayList<AcceleratorChoice>()
        val (model, outcome) = openWithFallback(AcceleratorChoice.GPU, all) { tried.add(it); "model on $it" }
        assertEquals("model on GPU", model)
        assertEquals(AcceleratorOutcome(AcceleratorChoice.GPU, AcceleratorChoice.GPU, null), outcome)
        assertEquals(listOf(AcceleratorChoice.GPU), tried)
        assertEquals("accelerator: GPU", outcome.describe())
    }

    @Test
    fun anAcceleratorThePhoneLacksFallsBackToCpuWithoutTryingIt() {
        val tried = ArrayList<AcceleratorChoice>()
        val (_, outcome) = openWithFallback(AcceleratorChoice.NPU, setOf(AcceleratorChoice.CPU, AcceleratorChoice.GPU)) { tried.add(it); it }
        assertEquals(listOf(AcceleratorChoice.CPU), tried)
        assertEquals(AcceleratorChoice.CPU, outcome.used)
        assertEquals("accelerator: CPU (XNNPACK) (NPU is not available on this phone (LiteRT reports: CPU, GPU); fell back to CPU)", outcome.describe())
    }

    @Test
    fun anAcceleratorThatRefusesTheModelFallsBackToCpuSayingWhy() {
        val (model, outcome) = openWithFallback(AcceleratorChoice.GPU, all) {
            if (it == AcceleratorChoice.GPU) throw AcceleratorException("GPU delegate: op BROADCAST_TO is not supported\nmore detail") else "cpu model"
        }
        assertEquals("cpu model", model)
        assertEquals("GPU could not run this model (GPU delegate: op BROADCAST_TO is not supported); fell back to CPU", outcome.note)
        assertEquals(mapOf("requested" to "gpu", "used" to "cpu", "note" to outcome.note), outcome.toJson())
    }

    @Test
    fun aCpuFailureIsNotHidden() {
        assertThrowsWith<ModelFileException>("cannot load") {
            openWithFallback(AcceleratorChoice.GPU, setOf(AcceleratorChoice.CPU)) { throw ModelFileException("cannot load model.tflite") }
        }
    }
}
