#pragma once
// The assistants actor: one per company, spawned by its tenant. It serves
// the Assistants v2 objects (assistants, threads, messages, runs, steps),
// OAG's server-side tools, secrets and company run settings, the Responses
// API and conversations; it spawns a run actor for every run that has work
// to do and keeps only small indexes of the others (a parked run lives on
// disk). At start it resumes the runs a previous process left unfinished.

#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "oag/actors/gateway.hpp"

namespace oag::actors {

/// Spawns the company's assistants actor; `tenant` takes its model calls.
caf::actor spawn_assistants(caf::actor_system& sys, std::shared_ptr<const gateway_context> ctx,
                            std::string company_id, caf::actor tenant);

} // namespace oag::actors
