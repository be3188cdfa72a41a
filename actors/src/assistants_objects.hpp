#pragma once
// Pure construction and validation of Assistants v2 objects from request
// bodies (no storage, no actors), so every rule is unit-tested directly.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "oag/error.hpp"

namespace oag::actors::assistants {

/// Checks an Assistants `tools` array: function tools only (with a valid
/// name, description and parameters); code_interpreter, file_search and
/// unknown types get a 400 saying why.
result<nlohmann::json> check_tools(const nlohmann::json& tools, const std::string& param = "tools");

/// Checks `response_format` ("auto", text, json_object, json_schema).
result<nlohmann::json> check_response_format(const nlohmann::json& value);

/// A new assistant from a create body (`model` required).
result<nlohmann::json> new_assistant(const nlohmann::json& body, std::string id, std::int64_t created_at);

/// Applies a modify body to a stored assistant (every field optional).
result<void> modify_assistant(nlohmann::json& assistant, const nlohmann::json& body);

/// Message content from a request: a string, or parts of text /
/// image_url; returned in the response shape ([{type:"text", text:{value,
/// annotations}}, ...]).
result<nlohmann::json> message_content(const nlohmann::json& content, const std::string& param = "content");

/// A new thread message from a create body (role user|assistant).
result<nlohmann::json> new_message(const nlohmann::json& body, std::string id, const std::string& thread_id,
                                   std::int64_t created_at, const std::string& param = "");

/// A new thread from a create body (its messages are built separately).
result<nlohmann::json> new_thread(const nlohmann::json& body, std::string id, std::int64_t created_at);

/// A new run from a create body and the assistant it runs: overrides
/// applied, instructions + additional_instructions combined; status queued.
result<nlohmann::json> new_run(const nlohmann::json& body, const nlohmann::json& assistant, std::string id,
                               const std::string& thread_id, std::int64_t created_at, std::int64_t expires_at);

/// Checks a submit_tool_outputs body against the calls the run waits for:
/// every call answered exactly once, no unknown ids. Returns the outputs.
result<nlohmann::json> check_tool_outputs(const nlohmann::json& body, const nlohmann::json& run);

/// True for statuses a run never leaves.
bool is_terminal(const std::string& status);

} // namespace oag::actors::assistants
