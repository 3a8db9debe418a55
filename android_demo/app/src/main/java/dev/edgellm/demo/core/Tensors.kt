package dev.edgellm.demo.core

import java.nio.ByteBuffer
import java.nio.ByteOrder

/** real = scale * (q - zeroPoint). Example: scale 0.0123, zeroPoint -3, q = 7 -> 0.123. */
fun dequantize(q: Long, quantization: Quantization): Float = (quantization.scale * (q - quantization.zeroPoint)).toFloat()

/** IEEE 754 half -> float (Float.float16ToFloat needs Java 20; android.util.Half is Android-only). */
fun halfToFloat(bits: Int): Float {
    val sign = if (bits and 0x8000 != 0) -1f else 1f
    val exponent = (bits shr 10) and 0x1F
    val mantissa = bits and 0x3FF
    return when (exponent) {
        0 -> sign * mantissa * 5.9604645e-8f // subnormal: mantissa * 2^-24
        0x1F -> if (mantissa == 0) sign * Float.POSITIVE_INFINITY else Float.NaN
        else -> sign * Float.fromBits(((exponent - 15 + 127) shl 23) or (mantissa shl 13))
    }
}

/**
 * Model I/O as byte buffers in native order, the form the LiteRT Interpreter copies without conversion.
 * Everything here is sized from the manifest, so a mismatch with the model shows as a one-line error.
 */
object Tensors {
    /** Fills every input of [signature] from [encoding]; names are the ones BERT-style exports use. */
    fun packInputs(signature: SignatureSpec, encoding: Encoding): Map<String, ByteBuffer> {
        if (encoding.sequenceLength != signature.sequenceLength) {
            throw TensorException("encoding has ${encoding.sequenceLength} positions but signature '${signature.name}' takes ${signature.sequenceLength}")
        }
        return signature.inputs.associate { spec ->
            val values = when (spec.name) {
                "input_ids" -> encoding.inputIds
                "attention_mask" -> encoding.attentionMask
                "token_type_ids" -> encoding.tokenTypeIds
                else -> throw TensorException(
                    "input '${spec.name}' of signature '${signature.name}' is not one this app fills; known: input_ids, attention_mask, token_type_ids",
                )
            }
            if (spec.elementCount() != values.size) {
                throw TensorException("input '${spec.name}' has shape ${spec.shape} (${spec.elementCount()} values) but the encoding has ${values.size}")
            }
            spec.name to pack(spec, values)
        }
    }

    private fun pack(spec: TensorSpec, values: IntArray): ByteBuffer {
        val buffer = ByteBuffer.allocateDirect(spec.byteCount()).order(ByteOrder.nativeOrder())
        for (v in values) {
            when (spec.dtype) {
                DType.INT32 -> buffer.putInt(v)
                DType.INT64 -> buffer.putLong(v.toLong())
                DType.FLOAT32 -> buffer.putFloat(v.toFloat())
                else -> throw TensorException("input '${spec.name}' has dtype ${spec.dtype.wireName}; this app feeds int32, int64 or float32 inputs")
            }
        }
        buffer.rewind()
        return buffer
    }

    /** Zeroed output buffers of the sizes the manifest declares. */
    fun allocateOutputs(signature: SignatureSpec): Map<String, ByteBuffer> =
        signature.outputs.associate { it.name to ByteBuffer.allocateDirect(it.byteCount()).order(ByteOrder.nativeOrder()) }

    /** Reads an output as real values, dequantizing integer tensors that carry a scale and zero point. */
    fun decode(spec: TensorSpec, buffer: ByteBuffer): FloatArray {
        val n = spec.elementCount()
        if (buffer.capacity() != spec.byteCount()) {
            throw TensorException("output '${spec.name}' holds ${buffer.capacity()} bytes; shape ${spec.shape} of ${spec.dtype.wireName} needs ${spec.byteCount()}")
        }
        val b = buffer.duplicate().order(buffer.order())
        b.rewind()
        val q = spec.quantization
        fun real(raw: Long): Float = if (q != null) dequantize(raw, q) else raw.toFloat()
        return FloatArray(n) {
            when (spec.dtype) {
                DType.FLOAT32 -> b.getFloat()
                DType.FLOAT16 -> halfToFloat(b.getShort().toInt() and 0xFFFF)
                DType.INT8 -> real(b.get().toLong())
                DType.UINT8 -> real((b.get().toInt() and 0xFF).toLong())
                DType.INT16 -> real(b.getShort().toLong())
                DType.INT32 -> real(b.getInt().toLong())
                DType.INT64 -> real(b.getLong())
                DType.BOOL -> if (b.get().toInt() != 0) 1f else 0f
            }
        }
    }
}
