#pragma once
// The run actor: one per Assistants run while it works. It persists every
// state change before announcing it, calls the model through the tenant
// (routing, money) and executes server-side tools; when it has to wait for
// the client's tool outputs, or the run ends, it writes its state and quits
// (a parked run costs disk, not memory).

#include <memory>
#include <optional>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <nlohmann/json.hpp>

#include "oag/actors/gateway.hpp"

namespace oag::actors {

/// What a run actor starts from. The run object and its engine state are
/// already on disk (the assistants actor wrote them); the actor continues
/// from whatever they say: a new run, submitted tool outputs, or a run cut
/// by a restart.
struct run_launch {
  std::string company_id;
  nlohmann::json run;    ///< the run object as stored
  nlohmann::json state;  ///< the run_state record as stored
  bool fresh = false;    ///< announce thread.run.created (a new run)
  std::optional<nlohmann::json> created_thread; ///< announce thread.created first (create-and-run)
  std::shared_ptr<response_sink> sink; ///< the client's event stream, or null
  caf::actor tenant;
  caf::actor parent;     ///< the company's assistants actor
  caf::actor agents;     ///< the company's agents actor (built-in tools, approvals of agent runs)
};

/// Spawns the run actor.
caf::actor spawn_run(caf::actor_system& sys, std::shared_ptr<const gateway_context> ctx, run_launch launch);

/// The engine state of a run that has not started yet.
nlohmann::json initial_run_state();

} // namespace oag::actors
