package dev.edgellm.demo.core

import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Test
import java.nio.ByteBuffer
import java.nio.ByteOrder

class TensorsTest {
    private fun buffer(size: Int): ByteBuffer = ByteBuffer.allocateDirect(size).order(ByteOrder.nativeOrder())

    @Test
    fun dequantizeIsScaleTimesOffsetFromZeroPoint() {
        val q = Quantization(scale = 0.0123, zeroPoint = -3)
        assertEquals(0.123f, dequantize(7, q), 1e-6f) // 0.0123 * (7 - -3)
        assertEquals(0f, dequantize(-3, q), 0f)
        assertEquals(-1.5621f, dequantize(-130, q), 1e-5f)
        assertEquals(63.5f, dequantize(255, Quantization(0.5, 128)), 0f) // uint8
    }

    @Test
    fun decodesInt8AndUint8OutputsWithDequantization() {
        val int8 = TensorSpec("logits", DType.INT8, listOf(1, 4), Quantization(0.5, -3))
        val b = buffer(4).put(byteArrayOf(-3, 7, -128, 127))
        assertArrayEquals(floatArrayOf(0f, 5f, -62.5f, 65f), Tensors.decode(int8, b), 0f)

        val uint8 = TensorSpec("logits", DType.UINT8, listOf(1, 3), Quantization(0.25, 128))
        val u = buffer(3).put(byteArrayOf(0, 128.toByte(), 255.toByte())) // 0, 128, 255 as unsigned
        assertArrayEquals(floatArrayOf(-32f, 0f, 31.75f), Tensors.decode(uint8, u), 0f)
    }

    @Test
    fun decodesFloatAndHalfAndUnquantizedInts() {
        val f32 = TensorSpec("e", DType.FLOAT32, listOf(1, 2), null)
        val b = buffer(8).putFloat(1.5f).putFloat(-2f)
        assertArrayEquals(floatArrayOf(1.5f, -2f), Tensors.decode(f32, b), 0f)

        val f16 = TensorSpec("e", DType.FLOAT16, listOf(4), null)
        val h = buffer(8).putShort(0x3C00).putShort(0xC000.toShort()).putShort(0x0001).putShort(0x7BFF)
        assertArrayEquals(floatArrayOf(1f, -2f, 5.9604645e-8f, 65504f), Tensors.decode(f16, h), 0f)

        val i32 = TensorSpec("n", DType.INT32, listOf(2), null)
        assertArrayEquals(floatArrayOf(7f, -9f), Tensors.decode(i32, buffer(8).putInt(7).putInt(-9)), 0f)
    }

    @Test
    fun decodeRefusesABufferOfTheWrongSize() {
        val spec = TensorSpec("embedding", DType.FLOAT32, listOf(1, 384), null)
        assertThrowsWith<TensorException>("output 'embedding' holds 1024 bytes", "needs 1536") {
            Tensors.decode(spec, buffer(1024))
        }
        assertThrowsWith<TensorException>("dynamic shape") {
            TensorSpec("x", DType.FLOAT32, listOf(1, -1), null).byteCount()
        }
    }

    @Test
    fun packsInputsByNameAndDtype() {
        val tok = testTokenizer()
        val enc = tok.encode(tok.tokenize("hello world"), 6)
        val sig = SignatureSpec(
            "seq_6", 6,
            inputs = listOf(
                TensorSpec("attention_mask", DType.INT64, listOf(1, 6), null),
                TensorSpec("input_ids", DType.INT32, listOf(1, 6), null),
            ),
            outputs = listOf(TensorSpec("embedding", DType.FLOAT32, listOf(1, 3), null)),
        )
        val packed = Tensors.packInputs(sig, enc)
        assertEquals(setOf("attention_mask", "input_ids"), packed.keys) // no token_type_ids: the model has none
        val ids = packed.getValue("input_ids")
        assertEquals(24, ids.capacity())
        assertEquals(listOf(2, 5, 6, 3, 0, 0), (0 until 6).map { ids.getInt(it * 4) })
        val mask = packed.getValue("attention_mask")
        assertEquals(48, mask.capacity())
        assertEquals(listOf(1L, 1L, 1L, 1L, 0L, 0L), (0 until 6).map { mask.getLong(it * 8) })
        assertEquals(12, Tensors.allocateOutputs(sig).getValue("embedding").capacity())
    }

    @Test
    fun packingRefusesUnknownInputsAndWrongLengths() {
        val tok = testTokenizer()
        val enc = tok.encode(tok.tokenize("hello"), 6)
        val unknown = SignatureSpec("s", 6, listOf(TensorSpec("pixel_values", DType.FLOAT32, listOf(1, 6), null)), emptyList())
        assertThrowsWith<TensorException>("input 'pixel_values'", "known: input_ids") { Tensors.packInputs(unknown, enc) }
        val longer = SignatureSpec("s8", 8, listOf(TensorSpec("input_ids", DType.INT32, listOf(1, 8), null)), emptyList())
        assertThrowsWith<TensorException>("encoding has 6 positions", "'s8' takes 8") { Tensors.packInputs(longer, enc) }
    }
}
