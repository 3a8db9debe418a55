package dev.edgellm.demo.core

// One hierarchy for everything the app shows the user as a one-line error, mirroring edgellm/errors.py.
// A message says what failed, what was seen, what is allowed, and what to do next.

/** Base class: the Activity shows [message] as one line and keeps running. */
open class EdgeDemoException(message: String, cause: Throwable? = null) : Exception(message, cause)

/** The text is not valid JSON; [line] and [column] are 1-based. */
class JsonException(val reason: String, val line: Int, val column: Int) :
    EdgeDemoException("line $line, column $column: $reason")

/** edgellm.json is missing, is not valid JSON, or does not describe a model this app can run. */
class ManifestException(message: String, cause: Throwable? = null) : EdgeDemoException(message, cause)

/** A file the manifest names (model, vocabulary) is missing or unreadable. */
class ModelFileException(message: String, cause: Throwable? = null) : EdgeDemoException(message, cause)

/** The tokenizer files cannot be loaded or the text cannot be encoded. */
class TokenizerException(message: String, cause: Throwable? = null) : EdgeDemoException(message, cause)

/** Inputs or outputs of a run do not match what the manifest declares. */
class TensorException(message: String, cause: Throwable? = null) : EdgeDemoException(message, cause)

/** A setting the user chose (temperature, top-k, new-token count, prompt length) is out of range. */
class ConfigException(message: String, cause: Throwable? = null) : EdgeDemoException(message, cause)

/** The chosen accelerator cannot run the model (not on this phone, or it refused the graph); CPU is tried next. */
class AcceleratorException(message: String, cause: Throwable? = null) : EdgeDemoException(message, cause)
