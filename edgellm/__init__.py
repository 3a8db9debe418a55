"""edgellm: ship Hugging Face language models to phones and small boards with LiteRT."""

__version__ = "0.1.0"
