"""The recipe's transcription prompts: the instructions put before a user's speech (via
`ichigo.chat_template.user_audio`) to ask for its transcript.

One tuple for every user of them, because the model only transcribes reliably when asked in the
phrasing it was trained on: the stage mixes draw from it (ichigo.data.stages), the ASR eval
rotates through it (ichigo.eval.asr) and realtime serving transcribes the user with its first entry.
"""

from __future__ import annotations

TRANSCRIBE_PROMPTS: tuple[str, ...] = (
    "Transcribe the following audio clip:", "Convert the spoken words to text:",
    "What is being said in this audio clip:", "Transcribe the speech in this audio sample:",
    "Please write down what is being said in the audio clip:", "Generate a transcript from this sound file:",
    "Recognize the speech in this audio clip:", "Produce a text version of this audio recording:",
)

__all__ = ["TRANSCRIBE_PROMPTS"]
