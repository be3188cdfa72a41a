#pragma once
/// Wallet transitions as pure functions over the in-memory wallet, each
/// producing the one write batch that makes it durable. The tenant actor
/// applies the batch, and only on success adopts the new state, so memory
/// and disk never disagree.

#include <optional>
#include <string>
#include <string_view>

#include "oag/error.hpp"
#include "oag/storage/database.hpp"
#include "oag/storage/records.hpp"

namespace oag::storage {

/// A planned wallet transition: the state after, and the batch that
/// persists it (wallet record plus the other records it touches).
struct wallet_change {
  wallet_record after; ///< adopt only once `batch` is written
  write_batch batch;   ///< every record of the transition, applied atomically
};

/// Common rules: negative amounts fail with invalid_request; a reservation
/// larger than the wallet's reserved total fails with conflict (it is not
/// one of this wallet's open reservations); totals that would overflow fail
/// with invalid_request. After every successful plan,
/// credits = balance + reserved + spent still holds.

/// Adds credit; the idempotency record `idem_key` (if given) goes in the
/// same batch, holding `result_json` to answer repeats with.
result<wallet_change> plan_credit(std::string_view company_id,
                                  const wallet_record& before, money::uot amount,
                                  std::optional<std::string> idem_key,
                                  std::string_view result_json);

/// Moves `amount` from balance to reserved for `call_id`; fails with
/// insufficient_quota when the balance cannot cover it.
result<wallet_change> plan_reserve(std::string_view company_id,
                                   const wallet_record& before,
                                   const reservation_record& reservation);

/// Settles a reservation: the cost moves to spent, the rest back to
/// balance, the reservation is deleted and `entry` appended to the ledger,
/// all in one batch. A cost above the reservation is still charged in full
/// (the balance may go below zero: the upstream really used it). The batch
/// also writes the settled_call marker at tenant_key(company, settled_call,
/// call_id), value encode_be64(entry.seq), so a repeated settle after a
/// restart can be recognised and pointed at its ledger entry.
result<wallet_change> plan_settle(std::string_view company_id,
                                  const wallet_record& before,
                                  const reservation_record& reservation,
                                  const ledger_entry& entry);

/// Releases a reservation without charge (call failed before any usage, or
/// found open after a crash).
result<wallet_change> plan_release(std::string_view company_id,
                                   const wallet_record& before,
                                   const reservation_record& reservation);

} // namespace oag::storage
