#pragma once
// The tenant actor: one per company, restored from RocksDB on first use.

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include "oag/actors/gateway.hpp"

namespace oag::actors {

/// Spawns the tenant of `company_id`. Open reservations found on disk
/// belong to a previous process that died mid-call; they are released.
caf::actor spawn_tenant(caf::actor_system& sys, std::shared_ptr<const gateway_context> ctx,
                        std::string company_id, std::shared_ptr<const platform_providers> platform);

/// The associated data that binds a sealed provider key to its owner.
std::string provider_key_aad(const std::string& company_id, const std::string& provider);

} // namespace oag::actors
