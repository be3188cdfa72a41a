#pragma once
// The Responses API (/v1/responses) and conversations (/v1/conversations),
// served by the company's assistants actor. Conversations are threads of
// the shared message store (ids conv_…); responses are stored objects.

#include <string>
#include <unordered_map>

#include <caf/event_based_actor.hpp>

#include "oag/actors/gateway.hpp"

namespace oag::actors::responses {

/// What the assistants actor keeps for the Responses API between requests.
struct responses_state {
  /// Response id -> the actor producing it (while in progress).
  std::unordered_map<std::string, caf::actor> live;
};

/// Answers one Responses / conversations request. `self` is the company's
/// assistants actor, `tenant` takes model calls.
void handle(caf::event_based_actor* self, responses_state& state, const std::shared_ptr<const gateway_context>& ctx,
            const std::string& company_id, const caf::actor& tenant, api_request& api);

} // namespace oag::actors::responses
