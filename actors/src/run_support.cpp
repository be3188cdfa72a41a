#include "run_support.hpp"

#include <charconv>

#include <caf/all.hpp>

#include "object_store.hpp"
#include "oag/storage/keys.hpp"

namespace oag::actors::runs {

using nlohmann::json;
using storage::record_kind;

// -- model_call_sink -----------------------------------------------------------

model_call_sink::~model_call_sink() { caf::anon_send(run_, model_end{seq_}); }

void model_call_sink::respond(int status, std::string body, adapters::header_list, std::string) {
  caf::anon_send(run_, model_reply{seq_, status, std::move(body)});
}

void model_call_sink::start_stream(int status, adapters::header_list, std::string) {
  if (status != 200) caf::anon_send(run_, model_reply{seq_, status, std::string{}});
}

bool model_call_sink::write(std::string bytes) {
  if (aborted_) return false;
  std::vector<sse::event> events;
  parser_.feed(bytes, events);
  model_chunks out{seq_, {}};
  for (auto& ev : events) {
    if (ev.data == "[DONE]") continue;
    auto doc = json::parse(ev.data, nullptr, false);
    if (doc.is_discarded()) continue;
    out.chunks.push_back(std::move(doc));
  }
  if (!out.chunks.empty()) caf::anon_send(run_, std::move(out));
  return true;
}

void model_call_sink::on_disconnect(std::function<void()> fn) {
  std::unique_lock lock(mutex_);
  if (aborted_) {
    lock.unlock();
    if (fn) fn();
    return;
  }
  on_disconnect_ = std::move(fn);
}

void model_call_sink::charged(const charge_report& report) { caf::anon_send(run_, model_charged{seq_, report}); }

void model_call_sink::abort() {
  std::function<void()> fn;
  {
    std::lock_guard lock(mutex_);
    if (aborted_.exchange(true)) return;
    fn = std::move(on_disconnect_);
  }
  if (fn) fn();
}

std::shared_ptr<model_call_sink> start_model_call(caf::actor tenant, const std::string& company_id,
                                                  const std::string& call_id, json body, caf::actor run,
                                                  std::uint32_t seq) {
  auto sink = std::make_shared<model_call_sink>(std::move(run), seq);
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  api_request api;
  api.route = route_id::chat_completions;
  api.body = std::move(body);
  api.request_id = call_id;
  api.call_id = call_id;
  api.sink = sink;
  caf::anon_send(tenant, tenant_request{company_id, std::string{}, false, std::move(api)});
  return sink;
}

// -- chat_accumulator ------------------------------------------------------------

chat_accumulator::delta chat_accumulator::add(const json& chunk) {
  delta d;
  if (!chunk.is_object()) return d;
  if (auto e = chunk.find("error"); e != chunk.end() && !e->is_null()) {
    error = *e;
    return d;
  }
  if (auto u = chunk.find("usage"); u != chunk.end() && u->is_object()) usage = *u;
  auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array()) return d;
  for (auto& c : *choices) {
    if (c.value("index", 0) != 0) continue; // runs ask for one choice
    if (auto fr = c.find("finish_reason"); fr != c.end() && fr->is_string()) finish_reason = fr->get<std::string>();
    auto delta_it = c.find("delta");
    if (delta_it == c.end() || !delta_it->is_object()) continue;
    if (auto t = delta_it->find("content"); t != delta_it->end() && t->is_string()) {
      d.text += t->get_ref<const std::string&>();
      text += t->get_ref<const std::string&>();
    }
    if (auto tcs = delta_it->find("tool_calls"); tcs != delta_it->end() && tcs->is_array()) {
      for (auto& tc : *tcs) {
        if (!tc.is_object()) continue;
        std::size_t index = tc.value("index", static_cast<std::size_t>(tool_calls.size()));
        if (index > 127) continue;
        bool first = index >= tool_calls.size();
        while (tool_calls.size() <= index) tool_calls.push_back({});
        auto& call = tool_calls[index];
        if (auto id = tc.find("id"); id != tc.end() && id->is_string()) call.id = id->get<std::string>();
        std::string args;
        if (auto fn = tc.find("function"); fn != tc.end() && fn->is_object()) {
          if (auto n = fn->find("name"); n != fn->end() && n->is_string()) call.name += n->get<std::string>();
          if (auto a = fn->find("arguments"); a != fn->end() && a->is_string()) args = a->get<std::string>();
        }
        call.arguments += args;
        d.tools.push_back({index, first, std::move(args)});
      }
    }
  }
  return d;
}

// -- prompt stack --------------------------------------------------------------------

result<company_settings> load_settings(const storage::database& db, const std::string& company_id) {
  company_settings out;
  auto doc = objects::get_json(db, storage::tenant_key(company_id, record_kind::settings));
  if (!doc) return doc.error();
  if (!*doc) return out;
  const json& j = **doc;
  if (auto it = j.find("instructions"); it != j.end() && it->is_string() && !it->get_ref<const std::string&>().empty())
    out.instructions = it->get<std::string>();
  if (auto it = j.find("tool_network_allowlist"); it != j.end() && it->is_array())
    for (auto& e : *it)
      if (e.is_string()) out.tool_network_allowlist.push_back(e.get<std::string>());
  if (auto it = j.find("run_max_steps"); it != j.end() && it->is_number_integer()) out.run_max_steps = it->get<int>();
  return out;
}

std::vector<prompt_layer> prompt_stack(const gateway_context& ctx, const company_settings& settings,
                                       const std::optional<std::string>& persona, const json& chat_tools) {
  std::vector<prompt_layer> layers;
  if (ctx.settings.system_prompt) layers.push_back({"system", *ctx.settings.system_prompt});
  if (settings.instructions) layers.push_back({"company", *settings.instructions});
  if (persona && !persona->empty()) layers.push_back({"persona", *persona});
  // RAG: retrieved context joins the stack here once knowledge bases exist.
  json names = json::array();
  if (chat_tools.is_array())
    for (auto& t : chat_tools) names.push_back(t["function"].value("name", std::string{}));
  if (!names.empty()) layers.push_back({"tools", names});
  return layers;
}

json prompt_messages(const std::vector<prompt_layer>& layers) {
  json out = json::array();
  for (auto& l : layers)
    if (l.layer != "tools" && l.content.is_string())
      out.push_back({{"role", "system"}, {"content", l.content}});
  return out;
}

json prompt_log(const std::vector<prompt_layer>& layers) {
  json out = json::array();
  for (auto& l : layers) out.push_back({{"layer", l.layer}, {"content", l.content}});
  return out;
}

result<std::map<std::string, json>> load_tools(const storage::database& db, const std::string& company_id) {
  std::map<std::string, json> out;
  auto r = db.for_each(storage::tenant_prefix(company_id, record_kind::tool), [&](std::string_view, std::string_view v) {
    auto doc = json::parse(v, nullptr, false);
    if (doc.is_object() && doc.contains("name")) out.emplace(doc["name"].get<std::string>(), std::move(doc));
    return true;
  });
  if (!r) return r.error();
  return out;
}

std::string encode_active_run(const std::string& run_id, const std::string& status, std::int64_t expires_at) {
  return run_id + "\n" + status + "\n" + std::to_string(expires_at);
}

std::optional<active_run_entry> decode_active_run(std::string_view value) {
  auto a = value.find('\n');
  if (a == std::string_view::npos) return std::nullopt;
  auto b = value.find('\n', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  active_run_entry e;
  e.run_id = std::string{value.substr(0, a)};
  e.status = std::string{value.substr(a + 1, b - a - 1)};
  auto digits = value.substr(b + 1);
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), e.expires_at);
  if (ec != std::errc{} || p != digits.data() + digits.size() || e.run_id.empty()) return std::nullopt;
  return e;
}

std::string secret_aad(const std::string& company_id, const std::string& name) {
  return "oag/secret/" + company_id + "/" + name;
}

std::string content_text(const json& content) {
  std::string out;
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) return out;
  for (auto& part : content) {
    if (part.value("type", std::string{}) != "text") continue;
    auto t = part.find("text");
    if (t == part.end()) continue;
    if (!out.empty()) out += "\n";
    if (t->is_string()) out += t->get<std::string>();
    else if (t->is_object()) out += t->value("value", std::string{});
  }
  return out;
}

std::optional<json> message_to_chat(const json& message) {
  if (message.value("object", std::string{}) != "thread.message") return std::nullopt;
  const std::string role = message.value("role", std::string{"user"});
  const json& content = message.contains("content") ? message["content"] : json::array();
  bool has_image = false;
  for (auto& part : content)
    if (part.value("type", std::string{}) == "image_url") has_image = true;
  if (!has_image || role != "user") return json{{"role", role}, {"content", content_text(content)}};
  json parts = json::array();
  for (auto& part : content) {
    auto type = part.value("type", std::string{});
    if (type == "text") parts.push_back({{"type", "text"}, {"text", part["text"].value("value", std::string{})}});
    else if (type == "image_url") parts.push_back({{"type", "image_url"}, {"image_url", part["image_url"]}});
  }
  return json{{"role", role}, {"content", parts}};
}

} // namespace oag::actors::runs
