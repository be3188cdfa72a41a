#pragma once
/// RocksDB key encoding: the only place that knows how keys are laid out.
///
/// Tenant keys start with the company id, so one company's data is one
/// contiguous key range:   <company_id> 0x00 <record_kind> <suffix>
/// Global keys (not owned by one company) start with 0x00:
///                         0x00 <record_kind> <suffix>
/// Company ids never contain 0x00, so the two spaces never overlap.
/// Sequence numbers in suffixes are 8-byte big-endian so byte order is
/// numeric order. The enum values are frozen: they are on disk.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace oag::storage {

/// Kinds of records. Values are persisted: never renumber, only append.
enum class record_kind : std::uint8_t {
  company = 1,       ///< tenant: the company record
  api_key = 2,       ///< tenant: api key metadata, suffix = key id
  key_hash = 3,      ///< global: sha256(key) -> company id + key id
  provider = 4,      ///< tenant: connected provider, suffix = provider name
  wallet = 5,        ///< tenant: the wallet totals
  reservation = 6,   ///< tenant: open reservation, suffix = call id
  ledger = 7,        ///< tenant: ledger entry, suffix = be64 sequence
  idempotency = 8,   ///< tenant: idempotency record, suffix = scope 0x00 key
  meta = 9,          ///< global: schema version, admin token hash, ...
  company_index = 10,///< global: list of companies, suffix = company id
  settled_call = 11, ///< tenant: marker that a call id was settled
  routing = 12,      ///< tenant: the company's routing config (JSON)
  assistant = 13,    ///< tenant: assistant object (JSON), suffix = assistant id
  thread = 14,       ///< tenant: thread / conversation object (JSON), suffix = thread id
  message = 15,      ///< tenant: thread item (JSON), suffix = thread id 0x00 item id
  run = 16,          ///< tenant: run object (JSON), suffix = thread id 0x00 run id
  run_step = 17,     ///< tenant: run step (JSON), suffix = run id 0x00 step id
  run_state = 18,    ///< tenant: a run's engine state (JSON), suffix = run id
  active_run = 19,   ///< tenant: the unfinished run of a thread, suffix = thread id, value = run id
  tool = 20,         ///< tenant: registered server-side tool (JSON), suffix = tool id
  secret = 21,       ///< tenant: vault-sealed secret, suffix = secret name
  settings = 22,     ///< tenant: company settings (instructions, allowlist; JSON)
  response = 23,     ///< tenant: stored Responses API object (JSON), suffix = response id
  agent = 24,        ///< tenant: agent object (JSON), suffix = agent id
  agent_run = 25,    ///< tenant: agent run record (JSON), suffix = agent run id
  agent_run_index = 26, ///< tenant: an agent's runs in order, suffix = agent id 0x00 agent run id, value empty
  hook_index = 27,   ///< global: webhook / Telegram hook id -> company id (value)
  approval = 28,     ///< tenant: approval record (JSON), suffix = approval id
  topic_event = 29,  ///< tenant: published event (JSON), suffix = topic 0x00 event id
  telegram = 30,     ///< tenant: Telegram settings (JSON; bot token vault-sealed)
  agent_schedule = 31, ///< tenant: a cron trigger's last firing, suffix = agent id 0x00 trigger index
  delegation = 32,   ///< tenant: a delegate call's children (JSON), suffix = parent run id 0x00 tool call id
  agent_run_open = 33, ///< tenant: an agent run whose end is not yet recorded, suffix = agent run id
  approval_pending = 34, ///< tenant: an approval whose decision a run has not yet consumed, suffix = approval id
  agent_spend = 35,  ///< tenant: an agent's spend of one UTC day, suffix = agent id, value = "day\nuot"
};

/// True when `company_id` can lead a tenant key: non-empty and free of 0x00.
/// Ids from outside (URL paths, config) must pass this before reaching
/// tenant_key, which treats a bad id as a programming error.
bool is_valid_company_id(std::string_view company_id) noexcept;

/// Key of a tenant record: company id, 0x00, kind, suffix.
/// Throws std::invalid_argument when !is_valid_company_id(company_id): an
/// empty id would land in the global space and an embedded 0x00 would alias
/// another company's keys, so silently encoding either would break isolation.
std::string tenant_key(std::string_view company_id, record_kind kind,
                       std::string_view suffix = {});

/// Prefix covering every tenant record of one kind for one company.
/// Same precondition (and exception) as tenant_key.
std::string tenant_prefix(std::string_view company_id, record_kind kind);

/// Key of a global record: 0x00, kind, suffix.
std::string global_key(record_kind kind, std::string_view suffix = {});

/// Prefix covering every global record of one kind.
std::string global_prefix(record_kind kind);

/// 8-byte big-endian encoding of a sequence number.
std::string encode_be64(std::uint64_t value);

/// Decodes an 8-byte big-endian sequence number; nullopt if not 8 bytes.
std::optional<std::uint64_t> decode_be64(std::string_view bytes);

/// The parts of a tenant key; views into the parsed key.
struct tenant_key_parts {
  std::string_view company_id; ///< bytes before the first 0x00
  record_kind kind;            ///< the byte after it
  std::string_view suffix;     ///< the rest (may be empty)
};

/// Splits a tenant key into its parts; nullopt if it is not a tenant key
/// (global key, no kind byte, or a kind value this build does not know).
std::optional<tenant_key_parts> parse_tenant_key(std::string_view key);

/// Suffix of a record that lives under a parent (thread 0x00 message, ...).
/// Ids never contain 0x00, so parent prefixes never overlap.
std::string child_suffix(std::string_view parent_id, std::string_view child_id);

/// Key of a ledger entry (tenant, kind ledger, be64 sequence).
std::string ledger_key(std::string_view company_id, std::uint64_t seq);

/// Key of an idempotency record for one scope (e.g. "credit"). The scope is
/// a fixed internal name without 0x00; `key` may be any client bytes.
std::string idempotency_key(std::string_view company_id, std::string_view scope,
                            std::string_view key);

} // namespace oag::storage
