"""The LLM side: tokenizer with sound tokens, Llama-family architectures (torchtune modules),
HF-format checkpoints, GGUF import, vocabulary extension, the embedded base model and generation."""

from ichigo.model.architecture import ModelArgs, build_model
from ichigo.model.checkpoint import load_pretrained, save_pretrained
from ichigo.model.generate import generate_text, stream_generate
from ichigo.model.tokenizer import IchigoTokenizer
from ichigo.model.vocab import extend_vocab

__all__ = ["ModelArgs", "build_model", "load_pretrained", "save_pretrained", "stream_generate",
           "generate_text", "IchigoTokenizer", "extend_vocab"]
