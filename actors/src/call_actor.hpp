#pragma once
// The call actor: one per client request that goes upstream.

#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "oag/actors/gateway.hpp"

namespace oag::actors {

/// Everything a call actor needs, resolved by the tenant before spawning.
struct call_spec {
  enum class operation : std::uint8_t { chat, embeddings };
  operation op = operation::chat;
  std::string call_id;
  std::string response_id;  ///< the id the client sees (chatcmpl-…)
  std::string company_id;
  std::string request_id;
  nlohmann::json body;      ///< the validated client body
  std::string client_model; ///< as the client asked for it
  std::string provider_name;
  std::string upstream_model;
  provider_handle provider;
  money::price price;
  bool stream = false;
  bool include_usage = false;
  std::int64_t prompt_estimate = 0; ///< the reservation's prompt estimate
  caf::actor tenant;
  std::shared_ptr<response_sink> sink;
};

/// Spawns the call actor; it reports its charge (or release) to the tenant
/// and writes the response to the sink, then quits.
void spawn_call(caf::actor_system& sys, std::shared_ptr<const gateway_context> ctx, call_spec spec);

} // namespace oag::actors
