#include "realtime_protocol.hpp"

#include <algorithm>

#include "oag/storage/money.hpp"
#include "routes.hpp"

namespace oag::runtime::realtime {

using nlohmann::json;

namespace {

failure bad(std::string message, std::string param) {
  return make_failure(errc::invalid_request, std::move(message), std::move(param));
}


/// An optional string field; `id` fields must look like object ids.
result<std::optional<std::string>> opt_string(const json& doc, const char* name, bool id, std::size_t max) {
  auto it = doc.find(name);
  if (it == doc.end() || it->is_null()) return std::optional<std::string>{};
  if (!it->is_string()) return bad(std::string{"'"} + name + "' must be a string.", name);
  auto s = it->get<std::string>();
  if (id && !valid_id_segment(s))
    return bad(std::string{"'"} + name + "' must be an object id (1 to 128 of A-Z a-z 0-9 _ - .).", name);
  if (!id && (s.empty() || s.size() > max))
    return bad(std::string{"'"} + name + "' must be 1 to " + std::to_string(max) + " characters.", name);
  return std::optional<std::string>{std::move(s)};
}

result<void> only_fields(const json& doc, std::initializer_list<const char*> allowed) {
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return it.key() == a; }))
      return bad("Unknown field '" + it.key() + "' in a '" + doc["type"].get<std::string>() + "' message.", it.key());
  }
  return {};
}

std::string text_of_content(const json& content) {
  std::string out;
  if (!content.is_array()) return out;
  for (auto& part : content) {
    if (!part.is_object() || part.value("type", std::string{}) != "text") continue;
    auto t = part.find("text");
    if (t == part.end()) continue;
    if (t->is_object()) {
      auto v = t->find("value");
      if (v != t->end() && v->is_string()) out += v->get_ref<const std::string&>();
    } else if (t->is_string()) {
      out += t->get_ref<const std::string&>();
    }
  }
  return out;
}

std::string str(const json& j, const char* key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

} // namespace

const std::vector<std::string>& subscribable_events() {
  static const std::vector<std::string> names{"approvals"};
  return names;
}

result<client_message> parse_client_message(std::string_view text) {
  if (!json_depth_ok(text, 32)) return bad("The message is nested too deeply (more than 32 levels).", "message");
  auto doc = json::parse(text, nullptr, false);
  if (doc.is_discarded())
    return bad("The message is not valid JSON: each message is one JSON object such as "
               "{\"type\":\"chat.message\",\"content\":\"hi\"}.",
               "message");
  if (!doc.is_object()) return bad("The message must be a JSON object.", "message");
  auto type = doc.find("type");
  if (type == doc.end() || !type->is_string())
    return bad("The message needs a string 'type': chat.message, chat.cancel, subscribe or ping.", "type");
  const std::string t = *type;
  client_message out;
  if (t == "ping") {
    if (auto r = only_fields(doc, {"type"}); !r) return std::move(r).error();
    out.type = client_message::kind::ping;
    return out;
  }
  if (t == "chat.cancel") {
    if (auto r = only_fields(doc, {"type"}); !r) return std::move(r).error();
    out.type = client_message::kind::chat_cancel;
    return out;
  }
  if (t == "subscribe") {
    if (auto r = only_fields(doc, {"type", "events"}); !r) return std::move(r).error();
    out.type = client_message::kind::subscribe;
    auto ev = doc.find("events");
    if (ev == doc.end() || !ev->is_array() || ev->empty())
      return bad("'events' must be a non-empty array of event names, e.g. [\"approvals\"].", "events");
    const auto& known = subscribable_events();
    for (std::size_t i = 0; i < ev->size(); ++i) {
      const auto& e = (*ev)[i];
      const std::string param = "events[" + std::to_string(i) + "]";
      if (!e.is_string()) return bad("Event names are strings.", param);
      if (std::find(known.begin(), known.end(), e.get<std::string>()) == known.end())
        return bad("Unknown event '" + e.get<std::string>() + "'; you can subscribe to: approvals.", param);
      if (std::find(out.events.begin(), out.events.end(), e.get<std::string>()) == out.events.end())
        out.events.push_back(e.get<std::string>());
    }
    return out;
  }
  if (t != "chat.message")
    return bad("Unknown message type '" + t + "': use chat.message, chat.cancel, subscribe or ping.", "type");
  if (auto r = only_fields(doc, {"type", "content", "thread_id", "assistant_id", "agent_id", "model", "instructions"});
      !r)
    return std::move(r).error();
  out.type = client_message::kind::chat_message;
  auto content = doc.find("content");
  if (content == doc.end() || !content->is_string() || content->get_ref<const std::string&>().empty())
    return bad("'content' must be a non-empty string.", "content");
  out.chat.content = *content;
  auto& c = out.chat;
  struct field {
    const char* name;
    std::optional<std::string>* into;
    bool id;
    std::size_t max;
  };
  for (const field& f : {field{"thread_id", &c.thread_id, true, 0}, field{"assistant_id", &c.assistant_id, true, 0},
                         field{"agent_id", &c.agent_id, true, 0}, field{"model", &c.model, false, 256},
                         field{"instructions", &c.instructions, false, 256 * 1024}}) {
    auto v = opt_string(doc, f.name, f.id, f.max);
    if (!v) return std::move(v).error();
    *f.into = std::move(v.value());
  }
  if (c.agent_id && (c.assistant_id || c.model || c.instructions))
    return bad("'agent_id' cannot be combined with 'assistant_id', 'model' or 'instructions': the agent has its own.",
               "agent_id");
  return out;
}

persona persona_for(const chat_message& m, const persona& remembered) {
  persona p;
  if (m.agent_id) {
    p.agent_id = m.agent_id;
    return p;
  }
  if (m.assistant_id || m.model) {
    p.assistant_id = m.assistant_id;
    p.model = m.model;
    p.instructions = m.instructions;
    return p;
  }
  p = remembered;
  if (m.instructions && !p.agent_id) p.instructions = m.instructions;
  return p;
}

result<chat_call> build_chat_call(const std::string& content, const persona& p,
                                  const std::optional<std::string>& thread_id) {
  chat_call call;
  if (p.empty())
    return bad("Say who answers: give 'assistant_id', 'model' (with optional 'instructions') or 'agent_id' in the "
               "first chat.message of a session.",
               "assistant_id");
  if (p.agent_id) {
    call.route = actors::route_id::agent_fire;
    call.params = {*p.agent_id};
    call.body = {{"input", content}, {"stream", true}};
    if (thread_id) call.body["thread_id"] = *thread_id;
    return call;
  }
  json body = json::object();
  if (p.assistant_id) body["assistant_id"] = *p.assistant_id;
  if (p.model) body["model"] = *p.model;
  if (p.instructions) body["instructions"] = *p.instructions;
  body["stream"] = true;
  call.inline_persona = !p.assistant_id;
  const json message = {{"role", "user"}, {"content", content}};
  if (thread_id) {
    call.route = actors::route_id::runs_create;
    call.params = {*thread_id};
    body["additional_messages"] = json::array({message});
  } else {
    call.route = actors::route_id::thread_and_run_create;
    body["thread"] = {{"messages", json::array({message})}};
  }
  call.body = std::move(body);
  return call;
}

json error_event(const failure& f) {
  auto body = json::parse(to_openai_error_body(f), nullptr, false);
  json err = body.is_object() && body.contains("error") ? body["error"] : json{{"message", f.message}};
  return {{"type", "error"}, {"error", std::move(err)}};
}

json error_event_from_response(int status, std::string_view body) {
  auto doc = json::parse(body, nullptr, false);
  json err;
  if (!doc.is_discarded() && doc.is_object() && doc.contains("error") && doc["error"].is_object()) {
    err = doc["error"];
  } else {
    err = {{"message", "the request failed with HTTP status " + std::to_string(status)},
           {"type", status >= 500 ? "server_error" : "invalid_request_error"},
           {"param", nullptr},
           {"code", nullptr}};
  }
  err["status"] = status;
  return {{"type", "error"}, {"error", std::move(err)}};
}

std::string cost_ot(std::int64_t uot) { return money::format_ot(uot); }

void run_translator::feed(std::string_view bytes, std::vector<json>& out) {
  scratch_.clear();
  parser_.feed(bytes, scratch_);
  for (auto& e : scratch_) on_event(e, out);
  scratch_.clear();
}

void run_translator::announce_call(const std::string& id, const std::string& name, const std::string& arguments,
                                   std::vector<json>& out) {
  if (id.empty() || announced_[id]) return;
  announced_[id] = true;
  out.push_back({{"type", "tool_call"}, {"id", id}, {"name", name}, {"arguments", arguments}});
}

void run_translator::on_event(const sse::event& e, std::vector<json>& out) {
  const std::string name = e.name.value_or("message");
  if (name == "done" || e.data == "[DONE]") return;
  auto data = json::parse(e.data, nullptr, false);
  if (data.is_discarded()) return;  // not ours to interpret
  if (name == "error") {
    json err = data.is_object() && data.contains("error") ? data["error"] : data;
    out.push_back({{"type", "error"}, {"error", std::move(err)}});
    return;
  }
  if (name.rfind("approval.", 0) == 0) {
    json ev = data.is_object() ? data : json{{"data", data}};
    ev["type"] = name;
    out.push_back(std::move(ev));
    return;
  }
  if (!data.is_object()) return;
  if (name == "thread.run.created") {
    thread_id_ = str(data, "thread_id");
    run_id_ = str(data, "id");
    json ev = {{"type", "run.created"}, {"thread_id", *thread_id_}, {"run_id", *run_id_}};
    if (data.contains("assistant_id")) ev["assistant_id"] = data["assistant_id"];
    if (data.contains("model")) ev["model"] = data["model"];
    out.push_back(std::move(ev));
    return;
  }
  if (name == "thread.message.created") {
    message_id_ = str(data, "id");
    text_.clear();
    message_status_.reset();
    message_reported_ = false;
    return;
  }
  if (name == "thread.message.delta") {
    const auto& delta = data.contains("delta") ? data["delta"] : json();
    std::string text = delta.is_object() ? text_of_content(delta.value("content", json())) : std::string{};
    if (text.empty()) return;
    text_ += text;
    out.push_back({{"type", "delta"}, {"text", std::move(text)}, {"message_id", str(data, "id")}});
    return;
  }
  if (name == "thread.message.completed" || name == "thread.message.incomplete") {
    message_id_ = str(data, "id");
    text_ = text_of_content(data.value("content", json()));
    message_status_ = str(data, "status");
    return;
  }
  if (name == "thread.run.step.delta") {
    const std::string step = str(data, "id");
    auto d = data.find("delta");
    if (d == data.end() || !d->is_object()) return;
    auto details = d->find("step_details");
    if (details == d->end() || !details->is_object()) return;
    auto calls = details->find("tool_calls");
    if (calls == details->end() || !calls->is_array()) return;
    for (auto& c : *calls) {
      if (!c.is_object()) continue;
      auto& pc = calls_[{step, c.value("index", 0)}];
      if (c.contains("id") && c["id"].is_string()) pc.id = c["id"];
      if (auto f = c.find("function"); f != c.end() && f->is_object()) {
        if (f->contains("name") && (*f)["name"].is_string()) pc.name = (*f)["name"];
        if (f->contains("arguments") && (*f)["arguments"].is_string()) pc.arguments += (*f)["arguments"].get<std::string>();
      }
    }
    return;
  }
  const bool step_done = name == "thread.run.step.completed" || name == "thread.run.step.cancelled" ||
                         name == "thread.run.step.failed" || name == "thread.run.step.expired";
  if (step_done) {
    const auto details = data.value("step_details", json::object());
    const std::string type = str(details, "type");
    if (type == "message_creation") {
      if (message_reported_) return;
      message_reported_ = true;
      json ev = {{"type", "message.completed"},
                 {"message_id", message_id_.empty() ? str(details.value("message_creation", json::object()), "message_id")
                                                    : message_id_},
                 {"text", text_},
                 {"status", message_status_.value_or(name == "thread.run.step.completed" ? "completed" : "incomplete")}};
      auto oag = data.find("oag");
      if (oag != data.end() && oag->is_object()) {
        ev["usage"] = oag->value("usage", json());
        const auto cost = oag->value("cost_uot", std::int64_t{0});
        ev["cost_uot"] = cost;
        ev["cost_ot"] = cost_ot(cost);
        if (oag->contains("model")) ev["model"] = (*oag)["model"];
      } else {
        // A cut turn (cancelled, failed): its usage and cost are in the
        // run's final event and the wallet's ledger.
        ev["usage"] = data.value("usage", json());
        ev["cost_uot"] = nullptr;
        ev["cost_ot"] = nullptr;
      }
      out.push_back(std::move(ev));
      text_.clear();
      return;
    }
    if (type == "tool_calls") {
      const std::string step = str(data, "id");
      for (auto& c : details.value("tool_calls", json::array())) {
        if (!c.is_object()) continue;
        const auto f = c.value("function", json::object());
        const std::string id = str(c, "id");
        announce_call(id, str(f, "name"), str(f, "arguments"), out);
        auto output = f.find("output");
        if (output != f.end() && !output->is_null()) {
          json ev = {{"type", "tool_result"}, {"id", id}, {"output", *output}};
          if (c.contains("oag")) ev["oag"] = c["oag"];
          out.push_back(std::move(ev));
        }
      }
      for (auto it = calls_.begin(); it != calls_.end();) it = it->first.first == step ? calls_.erase(it) : std::next(it);
    }
    return;
  }
  if (name == "thread.run.requires_action") {
    auto ra = data.value("required_action", json::object());
    for (auto& c : ra.value("submit_tool_outputs", json::object()).value("tool_calls", json::array())) {
      const auto f = c.value("function", json::object());
      announce_call(str(c, "id"), str(f, "name"), str(f, "arguments"), out);
    }
    finished_ = true;
    out.push_back({{"type", "run.requires_action"}, {"run", data}});
    return;
  }
  static const char* terminal[] = {"completed", "failed", "cancelled", "incomplete", "expired"};
  for (const char* status : terminal) {
    if (name != std::string{"thread.run."} + status) continue;
    if (!message_reported_) {
      // The turn's message was cut without a step event for it.
      message_reported_ = true;
      out.push_back({{"type", "message.completed"}, {"message_id", message_id_}, {"text", text_},
                     {"status", message_status_.value_or("incomplete")}, {"usage", nullptr},
                     {"cost_uot", nullptr}, {"cost_ot", nullptr}});
    }
    finished_ = true;
    const std::string type = std::string{status} == "expired" ? "run.failed" : std::string{"run."} + status;
    json ev = {{"type", type}, {"run", data}};
    if (data.contains("last_error") && !data["last_error"].is_null()) ev["error"] = data["last_error"];
    out.push_back(std::move(ev));
    return;
  }
}

} // namespace oag::runtime::realtime
