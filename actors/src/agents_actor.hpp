#pragma once
// The agents actor: one per company, spawned by the company's assistants
// actor. It is the one writer of the company's agents, agent runs,
// approvals, topic events, Telegram settings and trigger state. It turns
// triggers (cron, webhooks, topics, manual firings, delegation) into runs
// on the run engine: every firing is ONE write batch holding the thread,
// its first message, the run, the run's engine state and the agent run
// record, keyed by a deterministic firing id, so a firing that was
// delivered twice, or replayed after a crash, starts exactly one run. The
// assistants actor then adopts the run (or resumes it after a restart).

#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "oag/actors/gateway.hpp"

namespace oag::actors {

/// Spawns the company's agents actor. `assistants` adopts the runs it
/// writes; `tenant` is the company's tenant (for model checks).
caf::actor spawn_agents(caf::actor_system& sys, std::shared_ptr<const gateway_context> ctx,
                        std::string company_id, caf::actor tenant, caf::actor assistants);

} // namespace oag::actors
