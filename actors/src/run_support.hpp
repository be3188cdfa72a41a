#pragma once
// What runs (Assistants runs, Responses) share: the sink through which a
// run receives its model calls, the accumulator that rebuilds an answer
// from stream chunks, the prompt stack, and server-side tool calls.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <nlohmann/json.hpp>

#include "oag/actors/gateway.hpp"
#include "oag/adapters/sse.hpp"

namespace oag::actors::runs {

/// The response_sink of a model call a run makes: it turns what the call
/// actor writes into messages for the run, and announces `model_end` when
/// the call actor lets go of it (the call is over, its charge settled).
class model_call_sink final : public response_sink {
 public:
  model_call_sink(caf::actor run, std::uint32_t seq) : run_(std::move(run)), seq_(seq) {}
  ~model_call_sink() override;

  void respond(int status, std::string body, adapters::header_list extra, std::string content_type) override;
  void start_stream(int status, adapters::header_list extra, std::string content_type) override;
  bool write(std::string bytes) override;
  void end_stream() override {}
  void on_disconnect(std::function<void()> fn) override;
  bool disconnected() const noexcept override { return aborted_.load(); }
  void charged(const charge_report& report) override;

  /// Aborts the call (the run was cancelled): the call actor stops the
  /// upstream exchange and charges only what was generated.
  void abort();

 private:
  caf::actor run_;
  std::uint32_t seq_;
  std::atomic<bool> aborted_{false};
  std::mutex mutex_; // guards on_disconnect_ (set by the call actor, fired by the run)
  std::function<void()> on_disconnect_;
  sse::parser parser_; // only touched by the call actor's writes
};

/// Sends one model call for a run to the company's tenant actor (which
/// routes, reserves, calls and settles it like any chat completion).
/// `body` is an OpenAI chat body; it is always streamed.
std::shared_ptr<model_call_sink> start_model_call(caf::actor tenant, const std::string& company_id,
                                                  const std::string& call_id, nlohmann::json body,
                                                  caf::actor run, std::uint32_t seq);

/// Rebuilds one assistant answer from chat.completion.chunk objects.
struct chat_accumulator {
  struct tool_call {
    std::string id;
    std::string name;
    std::string arguments;
  };
  std::string text;
  std::vector<tool_call> tool_calls;  ///< by stream index
  std::optional<std::string> finish_reason;
  nlohmann::json usage;               ///< the chat usage object, null until reported
  std::optional<nlohmann::json> error; ///< an error object found in the stream

  /// What one chunk added, for the caller's delta events.
  struct delta {
    std::string text;
    struct tool_fragment {
      std::size_t index = 0;
      bool first = false;  ///< the call's id and name arrived with this fragment
      std::string arguments;
    };
    std::vector<tool_fragment> tools;
  };
  /// Adds a chunk; returns what it contributed.
  delta add(const nlohmann::json& chunk);
};

/// One layer of the prompt stack, as logged in the run's steps.
struct prompt_layer {
  std::string layer;    ///< system | company | persona | rag | tools
  nlohmann::json content;
};

/// The company's settings for runs (admin API; defaults when unset).
struct company_settings {
  std::optional<std::string> instructions;
  std::vector<std::string> tool_network_allowlist;
  std::optional<int> run_max_steps;
};

/// Reads the company's settings record (defaults when there is none).
result<company_settings> load_settings(const storage::database& db, const std::string& company_id);

/// The layers before the conversation: platform system prompt, company
/// instructions, persona, RAG context (none yet: the hook for retrieval),
/// and the names of the tools offered.
std::vector<prompt_layer> prompt_stack(const gateway_context& ctx, const company_settings& settings,
                                       const std::optional<std::string>& persona, const nlohmann::json& chat_tools);

/// The system messages of the layers (tools are sent as `tools`, not text).
nlohmann::json prompt_messages(const std::vector<prompt_layer>& layers);

/// The layers as logged: [{layer, content}].
nlohmann::json prompt_log(const std::vector<prompt_layer>& layers);

/// A registered server-side tool (POST /v1/tools), as stored.
struct registered_tool {
  nlohmann::json record;
};

/// Loads the company's registered tools by name.
result<std::map<std::string, nlohmann::json>> load_tools(const storage::database& db, const std::string& company_id);

/// Runs one server-side tool call as its own actor: resolves the secret
/// references of its headers from the vault, validates the arguments
/// against the tool's schema, calls the endpoint, and sends `tool_result`
/// to `reply_to`. Failures become error results, never a crashed run.
caf::actor spawn_tool_call(caf::actor_system& sys, std::shared_ptr<const gateway_context> ctx,
                     std::string company_id, nlohmann::json tool, std::string tool_call_id,
                     std::string arguments, std::vector<std::string> allowlist, std::uint32_t turn,
                     caf::actor reply_to);

/// A thread's active_run index entry: run id, status and expiry, kept up to
/// date in the same batch as every run state change, so a restart rebuilds
/// the parked-run index from one prefix scan without reading the runs.
struct active_run_entry {
  std::string run_id;
  std::string status;
  std::int64_t expires_at = 0;
};

/// Encodes an active_run entry ("run_id\nstatus\nexpires_at").
std::string encode_active_run(const std::string& run_id, const std::string& status, std::int64_t expires_at);

/// Decodes an active_run entry; nullopt when it is not one.
std::optional<active_run_entry> decode_active_run(std::string_view value);

/// The vault's associated data for a company secret.
std::string secret_aad(const std::string& company_id, const std::string& name);

/// Thread message (Assistants shape) → chat message; nullopt for items a
/// chat model cannot take.
std::optional<nlohmann::json> message_to_chat(const nlohmann::json& message);

/// Text of an Assistants content array (text parts joined).
std::string content_text(const nlohmann::json& content);

} // namespace oag::actors::runs
