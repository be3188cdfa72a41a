// The tool_call actor: one per server-side tool call of a run. It never
// blocks: the HTTP exchange runs on the io threads and its outcome comes
// back as a message. Whatever happens, the run gets exactly one
// tool_result; failures are results the model can read.

#include <chrono>

#include <caf/all.hpp>

#include "oag/adapters/json_schema.hpp"
#include "oag/adapters/tool_http.hpp"
#include "oag/storage/crypto.hpp"
#include "oag/storage/keys.hpp"
#include "object_store.hpp"
#include "run_support.hpp"
#include "tools_api.hpp"

namespace oag::actors {
namespace {

/// The HTTP exchange ended (sent from an io thread to the tool_call actor).
struct tool_http_done {
  std::optional<adapters::http_tool_result> response;
  std::optional<failure> error;
};

} // namespace
} // namespace oag::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(oag::actors::tool_http_done)

namespace oag::actors {
namespace {

using nlohmann::json;

constexpr std::size_t max_output_bytes = 64 * 1024; // what the model is shown of a response

struct tool_call_state {
  std::string tool_call_id;
  std::uint32_t turn = 0;
  caf::actor reply_to;
  std::chrono::steady_clock::time_point started;
  static inline const char* name = "oag.tool_call";
};

using tool_call_actor = caf::stateful_actor<tool_call_state>;

std::string clip(std::string s) {
  if (s.size() <= max_output_bytes) return s;
  std::size_t cut = max_output_bytes;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut; // keep UTF-8 whole
  s.resize(cut);
  return s + "\n[truncated by OAG]";
}

void reply(tool_call_actor* self, std::string output, bool ok, int status) {
  auto& st = self->state;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - st.started).count();
  self->send(st.reply_to, tool_result{st.turn, st.tool_call_id, std::move(output), ok, ms, status});
  self->quit();
}

caf::behavior tool_call_behavior(tool_call_actor* self, std::shared_ptr<const gateway_context> ctx, std::string company_id,
                                 json tool, std::string tool_call_id, std::string arguments,
                                 std::vector<std::string> allowlist, std::uint32_t turn, caf::actor reply_to) {
  auto& st = self->state;
  st.tool_call_id = std::move(tool_call_id);
  st.turn = turn;
  st.reply_to = std::move(reply_to);
  st.started = std::chrono::steady_clock::now();
  auto error = [&](const std::string& msg) {
    reply(self, "error: " + msg, false, 0);
    return caf::behavior{[](tool_http_done&) {}};
  };
  auto args = json::parse(arguments.empty() ? std::string{"{}"} : arguments, nullptr, false);
  if (args.is_discarded()) return error("the arguments are not valid JSON");
  if (auto v = adapters::validate_json(tool.value("parameters", json::object()), args); !v)
    return error("invalid arguments: " + v.error().message);
  auto endpoint = tools::resolve_endpoint(tool, [&](const std::string& name) -> std::optional<std::string> {
    auto doc = objects::get_json(*ctx->db, storage::tenant_key(company_id, storage::record_kind::secret, name));
    if (!doc || !*doc) return std::nullopt;
    auto sealed = crypto::base64_decode((**doc).value("sealed", std::string{}));
    if (!sealed) return std::nullopt;
    auto plain = ctx->vault->open(*sealed, runs::secret_aad(company_id, name));
    if (!plain) return std::nullopt;
    return std::move(plain.value());
  });
  if (!endpoint) return error(endpoint.error().message);
  if (!ctx->io) return error("outbound HTTP is not available in this process");
  auto me = caf::actor_cast<caf::actor>(self);
  // Stopped by its run (cancelled): the HTTP exchange is aborted, its
  // connection closed. The functor outlives the state, so it owns a handle.
  auto handle = std::make_shared<std::shared_ptr<adapters::http_tool_call>>();
  self->attach_functor([handle](const caf::error&) {
    if (*handle) (*handle)->cancel();
  });
  *handle = adapters::call_http_tool(*ctx->io, ctx->tls, *endpoint, args, adapters::network_allowlist{std::move(allowlist)},
                                     [me](result<adapters::http_tool_result> r) {
                                       tool_http_done d;
                                       if (r) d.response = std::move(r.value());
                                       else d.error = r.error();
                                       caf::anon_send(me, std::move(d));
                                     });
  return {
    [=](tool_http_done& d) {
      if (d.error) return reply(self, "error: " + d.error->message, false, 0);
      auto& resp = *d.response;
      bool ok = resp.status >= 200 && resp.status < 300;
      std::string out = ok ? clip(std::move(resp.body))
                           : "error: HTTP " + std::to_string(resp.status) + ": " + clip(std::move(resp.body));
      reply(self, std::move(out), ok, resp.status);
    },
  };
}

} // namespace

namespace runs {

caf::actor spawn_tool_call(caf::actor_system& sys, std::shared_ptr<const gateway_context> ctx, std::string company_id,
                     json tool, std::string tool_call_id, std::string arguments, std::vector<std::string> allowlist,
                     std::uint32_t turn, caf::actor reply_to) {
  return sys.spawn(tool_call_behavior, std::move(ctx), std::move(company_id), std::move(tool), std::move(tool_call_id),
            std::move(arguments), std::move(allowlist), turn, std::move(reply_to));
}

} // namespace runs
} // namespace oag::actors
