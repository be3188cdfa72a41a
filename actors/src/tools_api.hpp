#pragma once
// OAG's own API for server-side tools (/v1/tools), the secrets their
// headers reference (/v1/secrets, sealed in the vault) and a company's run
// settings (/admin/v1/companies/{id}/settings). Served by the assistants
// actor; plain reads and writes of the company's records.

#include <string>

#include <nlohmann/json.hpp>

#include "oag/actors/gateway.hpp"
#include "oag/adapters/tool_http.hpp"

namespace oag::actors::tools {

/// Answers one tools / secrets / settings request.
void handle(const gateway_context& ctx, const std::string& company_id, api_request& api);

/// The endpoint of a stored tool with `{{secret:NAME}}` references in its
/// header values resolved through `secret` (nullopt: that secret is unset;
/// the error names it).
result<adapters::http_tool_endpoint> resolve_endpoint(
    const nlohmann::json& tool, const std::function<std::optional<std::string>(const std::string&)>& secret);

} // namespace oag::actors::tools
