#include "oag/storage/wallet.hpp"

#include "oag/storage/keys.hpp"

namespace oag::storage {

namespace {

failure overflow() {
  return make_failure(errc::invalid_request, "amount would overflow the wallet totals");
}

// a + b without signed overflow (which would be undefined behaviour).
bool add(money::uot a, money::uot b, money::uot& out) {
  return !__builtin_add_overflow(a, b, &out);
}

bool sub(money::uot a, money::uot b, money::uot& out) {
  return !__builtin_sub_overflow(a, b, &out);
}

// Checks that `reservation` can be taken out of `before.reserved_uot`.
std::optional<failure> check_reservation(const wallet_record& before,
                                         const reservation_record& reservation) {
  if (reservation.call_id.empty())
    return make_failure(errc::invalid_request, "reservation needs a call id");
  if (reservation.amount_uot < 0)
    return make_failure(errc::invalid_request, "reservation amount must not be negative");
  if (reservation.amount_uot > before.reserved_uot)
    return make_failure(errc::conflict, "reservation " + reservation.call_id +
                                            " exceeds the wallet's reserved total");
  return std::nullopt;
}

void put_wallet(write_batch& batch, std::string_view company_id, const wallet_record& w) {
  batch.put(tenant_key(company_id, record_kind::wallet), encode(w));
}

} // namespace

result<wallet_change> plan_credit(std::string_view company_id, const wallet_record& before,
                                  money::uot amount, std::optional<std::string> idem_key,
                                  std::string_view result_json) {
  if (amount < 0) return make_failure(errc::invalid_request, "credit amount must not be negative", "amount");
  wallet_change change;
  change.after = before;
  if (!add(before.credits_uot, amount, change.after.credits_uot) ||
      !add(before.balance_uot, amount, change.after.balance_uot))
    return overflow();
  put_wallet(change.batch, company_id, change.after);
  if (idem_key)
    change.batch.put(idempotency_key(company_id, "credit", *idem_key), result_json);
  return change;
}

result<wallet_change> plan_reserve(std::string_view company_id, const wallet_record& before,
                                   const reservation_record& reservation) {
  if (reservation.call_id.empty())
    return make_failure(errc::invalid_request, "reservation needs a call id");
  if (reservation.amount_uot < 0)
    return make_failure(errc::invalid_request, "reservation amount must not be negative");
  if (before.balance_uot < reservation.amount_uot) {
    return make_failure(errc::insufficient_quota,
                        "insufficient O₮ balance: need " + money::format_ot(reservation.amount_uot) +
                            " O₮, available " + money::format_ot(before.balance_uot) + " O₮");
  }
  wallet_change change;
  change.after = before;
  change.after.balance_uot = before.balance_uot - reservation.amount_uot; // >= 0 by the check
  if (!add(before.reserved_uot, reservation.amount_uot, change.after.reserved_uot))
    return overflow();
  put_wallet(change.batch, company_id, change.after);
  change.batch.put(tenant_key(company_id, record_kind::reservation, reservation.call_id),
                   encode(reservation));
  return change;
}

result<wallet_change> plan_settle(std::string_view company_id, const wallet_record& before,
                                  const reservation_record& reservation,
                                  const ledger_entry& entry) {
  if (auto bad = check_reservation(before, reservation)) return *bad;
  if (entry.cost_uot < 0)
    return make_failure(errc::invalid_request, "cost must not be negative");
  if (!entry.call_id.empty() && entry.call_id != reservation.call_id)
    return make_failure(errc::internal, "ledger entry belongs to call " + entry.call_id +
                                            ", not " + reservation.call_id);
  wallet_change change;
  change.after = before;
  // reserved -= amount; balance += amount - cost; spent += cost. The three
  // deltas sum to zero, so credits = balance + reserved + spent is kept.
  money::uot refund = 0;
  change.after.reserved_uot = before.reserved_uot - reservation.amount_uot; // >= 0 checked
  if (!sub(reservation.amount_uot, entry.cost_uot, refund) ||
      !add(before.balance_uot, refund, change.after.balance_uot) ||
      !add(before.spent_uot, entry.cost_uot, change.after.spent_uot))
    return overflow();

  ledger_entry stored = entry;
  if (stored.call_id.empty()) stored.call_id = reservation.call_id;
  put_wallet(change.batch, company_id, change.after);
  change.batch.del(tenant_key(company_id, record_kind::reservation, reservation.call_id));
  change.batch.put(ledger_key(company_id, stored.seq), encode(stored));
  change.batch.put(tenant_key(company_id, record_kind::settled_call, reservation.call_id),
                   encode_be64(stored.seq));
  return change;
}

result<wallet_change> plan_release(std::string_view company_id, const wallet_record& before,
                                   const reservation_record& reservation) {
  if (auto bad = check_reservation(before, reservation)) return *bad;
  wallet_change change;
  change.after = before;
  change.after.reserved_uot = before.reserved_uot - reservation.amount_uot; // >= 0 checked
  if (!add(before.balance_uot, reservation.amount_uot, change.after.balance_uot))
    return overflow();
  put_wallet(change.batch, company_id, change.after);
  change.batch.del(tenant_key(company_id, record_kind::reservation, reservation.call_id));
  return change;
}

} // namespace oag::storage
