#pragma once
// The call actor: one per client request that goes upstream.

#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "oag/actors/gateway.hpp"
#include "oag/actors/routing.hpp"

namespace oag::actors {

/// One model the call may be sent to, resolved by the tenant.
struct call_target {
  std::string model_ref;      ///< "provider/model" as routed
  std::string provider_name;
  std::string upstream_model;
  provider_handle provider;
  money::price price;
  std::int64_t max_output_tokens = 4096;
};

/// The wire format the client speaks.
enum class client_format : std::uint8_t { openai, anthropic };

/// Everything a call actor needs, resolved by the tenant before spawning.
struct call_spec {
  enum class operation : std::uint8_t { chat, embeddings };
  operation op = operation::chat;
  client_format format = client_format::openai;
  std::string call_id;
  std::string response_id;  ///< the id the client sees (chatcmpl-…)
  std::string company_id;
  std::string request_id;
  nlohmann::json body;      ///< the validated OpenAI-shaped body
  std::string client_model; ///< as the client asked for it
  std::vector<call_target> targets; ///< in the order to try them
  std::optional<std::string> route_rule;
  routing::retry_policy retry;
  bool stream = false;
  bool include_usage = false;
  std::int64_t prompt_estimate = 0; ///< the reservation's prompt estimate
  caf::actor tenant;
  std::shared_ptr<response_sink> sink;
};

/// Spawns the call actor. It tries the targets in order (retrying with
/// backoff where the policy allows, never after the first byte reached the
/// client), reports its charge (or release) to the tenant, writes the
/// response to the sink, then quits.
void spawn_call(caf::actor_system& sys, std::shared_ptr<const gateway_context> ctx, call_spec spec);

} // namespace oag::actors
