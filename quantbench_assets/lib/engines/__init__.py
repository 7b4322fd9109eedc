"""Inference engines: llama.cpp in process, OpenAI-compatible and Ollama servers, chat templates, grammars."""
