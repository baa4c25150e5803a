"""Core library of the Ichigo platform.

Everything that is logic lives here: sound tokens and the chat template, audio, TTS and speech
tokenizers, dataset builders, the model and its training recipe, evaluation, the gate and the
registry client. Nothing in this package imports KFP or Ray; components, pipelines and serving
call into it, never the other way round.
"""

__version__ = "0.1.0"
