#pragma once
/// The `ollama` kind: Ollama's native API (WIRE.md §7.1), `POST
/// {base}/api/chat` answered with one JSON object or, streamed, NDJSON;
/// embeddings via `POST {base}/api/embed`. Default base URL
/// http://localhost:11434 (no key needed locally; a configured key is sent
/// as Bearer for hosted instances and proxies).
///
/// Translation notes: tool call arguments are objects on Ollama's side and
/// JSON strings on OpenAI's; images travel as bare base64 (data: URLs
/// only, Ollama cannot fetch remote images); tool results carry the
/// function's name as `tool_name`. Back: tool call ids are synthesized as
/// `call_<n>` and streamed tool calls get indices 0..n-1 in order of
/// appearance, whether they come in one line or several, never merged.

#include "oag/adapters/adapter.hpp"

namespace oag::adapters {

/// The Ollama adapter.
const provider_adapter& ollama_adapter() noexcept;

/// A fresh decoder for an `/api/chat` NDJSON stream.
std::unique_ptr<stream_decoder> make_ollama_stream_decoder();

} // namespace oag::adapters
