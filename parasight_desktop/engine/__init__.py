"""The Qt-free core: tokenizer, schedulers, model store, LiteRT runner, pipeline, converter."""
