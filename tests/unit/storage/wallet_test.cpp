#include <catch2/catch.hpp>

#include <limits>
#include <map>
#include <random>

#include "oag/storage/database.hpp"
#include "oag/storage/keys.hpp"
#include "oag/storage/wallet.hpp"
#include "temp_dir.hpp"

using namespace oag::storage;
using oag::errc;
using oag::money::uot;
using oag::test::temp_dir;

namespace {

const std::string company = "co_test";

bool invariant(const wallet_record& w) {
  return w.credits_uot == w.balance_uot + w.reserved_uot + w.spent_uot;
}

bool same(const wallet_record& a, const wallet_record& b) {
  return a.credits_uot == b.credits_uot && a.balance_uot == b.balance_uot &&
         a.reserved_uot == b.reserved_uot && a.spent_uot == b.spent_uot;
}

wallet_record stored_wallet(database& db) {
  auto raw = db.get(tenant_key(company, record_kind::wallet));
  REQUIRE(raw.ok());
  REQUIRE(raw->has_value());
  auto w = decode_wallet(**raw);
  REQUIRE(w.ok());
  return *w;
}

// Applies a planned change to the database and returns the new state, the
// way the tenant actor does: adopt `after` only once the batch is durable.
wallet_record apply(database& db, oag::result<wallet_change> change) {
  REQUIRE(change.ok());
  REQUIRE(db.write(change->batch).ok());
  return change->after;
}

ledger_entry entry_for(const std::string& call_id, std::uint64_t seq, uot cost) {
  ledger_entry e;
  e.seq = seq;
  e.id = "led_" + std::to_string(seq);
  e.call_id = call_id;
  e.kind = "chat.completion";
  e.cost_uot = cost;
  e.status = "completed";
  return e;
}

} // namespace

TEST_CASE("credit adds to credits and balance and records idempotency", "[wallet]") {
  temp_dir dir;
  auto db = *database::open(dir.path(), durability::wal);
  wallet_record w;
  auto c = plan_credit(company, w, 5'000'000, std::string("idem-1"), R"({"ok":true})");
  REQUIRE(c.ok());
  REQUIRE(c->after.credits_uot == 5'000'000);
  REQUIRE(c->after.balance_uot == 5'000'000);
  REQUIRE(c->batch.size() == 2);
  w = apply(*db, std::move(c));
  REQUIRE(same(stored_wallet(*db), w));
  auto idem = db->get(idempotency_key(company, "credit", "idem-1"));
  REQUIRE(idem->value() == R"({"ok":true})");

  auto no_idem = plan_credit(company, w, 1, std::nullopt, "");
  REQUIRE(no_idem.ok());
  REQUIRE(no_idem->batch.size() == 1);
  REQUIRE(invariant(no_idem->after));
}

TEST_CASE("invalid amounts are rejected", "[wallet]") {
  wallet_record w{10, 10, 0, 0};
  auto neg = plan_credit(company, w, -1, std::nullopt, "");
  REQUIRE_FALSE(neg.ok());
  REQUIRE(neg.error().code == errc::invalid_request);
  auto over = plan_credit(company, wallet_record{std::numeric_limits<uot>::max(),
                                                 std::numeric_limits<uot>::max(), 0, 0},
                          1, std::nullopt, "");
  REQUIRE_FALSE(over.ok());
  REQUIRE(over.error().code == errc::invalid_request);
  REQUIRE(plan_reserve(company, w, {"call", -1, 0}).error().code == errc::invalid_request);
  REQUIRE(plan_reserve(company, w, {"", 1, 0}).error().code == errc::invalid_request);
  wallet_record reserved{10, 5, 5, 0};
  REQUIRE(plan_settle(company, reserved, {"call", 5, 0}, entry_for("call", 1, -1)).error().code ==
          errc::invalid_request);
  // A reservation the wallet does not hold.
  REQUIRE(plan_settle(company, reserved, {"call", 6, 0}, entry_for("call", 1, 1)).error().code ==
          errc::conflict);
  REQUIRE(plan_release(company, reserved, {"call", 6, 0}).error().code == errc::conflict);
  // A ledger entry for a different call.
  REQUIRE_FALSE(plan_settle(company, reserved, {"call", 5, 0}, entry_for("other", 1, 1)).ok());
}

TEST_CASE("reserve fails with insufficient_quota when the balance is short", "[wallet]") {
  wallet_record w{1'500'000, 1'500'000, 0, 0};
  auto r = plan_reserve(company, w, {"call_1", 2'000'000, 0});
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().code == errc::insufficient_quota);
  REQUIRE(r.error().message == "insufficient O₮ balance: need 2 O₮, available 1.5 O₮");
  // Exactly the balance is fine.
  auto exact = plan_reserve(company, w, {"call_1", 1'500'000, 0});
  REQUIRE(exact.ok());
  REQUIRE(exact->after.balance_uot == 0);
  REQUIRE(exact->after.reserved_uot == 1'500'000);
  // A zero reservation works even on an empty wallet.
  REQUIRE(plan_reserve(company, wallet_record{}, {"call_0", 0, 0}).ok());
}

TEST_CASE("reserve, settle and release persist every record they touch", "[wallet]") {
  temp_dir dir;
  auto db = *database::open(dir.path(), durability::fsync);
  wallet_record w = apply(*db, plan_credit(company, {}, 10'000, std::nullopt, ""));

  reservation_record res{"call_1", 3'000, 17};
  w = apply(*db, plan_reserve(company, w, res));
  REQUIRE(same(stored_wallet(*db), w));
  REQUIRE(w.balance_uot == 7'000);
  REQUIRE(w.reserved_uot == 3'000);
  auto stored_res = db->get(tenant_key(company, record_kind::reservation, "call_1"));
  REQUIRE(stored_res->has_value());
  auto dres = decode_reservation(**stored_res);
  REQUIRE(dres->amount_uot == 3'000);
  REQUIRE(dres->created_at == 17);

  SECTION("settle below the reservation refunds the rest") {
    w = apply(*db, plan_settle(company, w, res, entry_for("call_1", 1, 1'200)));
    REQUIRE(w.balance_uot == 8'800);
    REQUIRE(w.reserved_uot == 0);
    REQUIRE(w.spent_uot == 1'200);
    REQUIRE(invariant(w));
    REQUIRE(same(stored_wallet(*db), w));
    REQUIRE_FALSE(db->get(tenant_key(company, record_kind::reservation, "call_1"))->has_value());
    auto led = db->get(ledger_key(company, 1));
    REQUIRE(led->has_value());
    auto dled = decode_ledger_entry(**led);
    REQUIRE(dled->cost_uot == 1'200);
    REQUIRE(dled->call_id == "call_1");
    auto marker = db->get(tenant_key(company, record_kind::settled_call, "call_1"));
    REQUIRE(marker->has_value());
    REQUIRE(decode_be64(**marker) == 1u);
  }
  SECTION("settle above the reservation charges in full") {
    w = apply(*db, plan_settle(company, w, res, entry_for("call_1", 1, 12'000)));
    REQUIRE(w.spent_uot == 12'000);
    REQUIRE(w.balance_uot == -2'000);
    REQUIRE(w.reserved_uot == 0);
    REQUIRE(invariant(w));
    REQUIRE(same(stored_wallet(*db), w));
    // A negative balance refuses the next reservation, with the debt shown.
    auto next = plan_reserve(company, w, {"call_2", 1, 0});
    REQUIRE(next.error().code == errc::insufficient_quota);
    REQUIRE(next.error().message == "insufficient O₮ balance: need 0.000001 O₮, available -0.002 O₮");
  }
  SECTION("release returns the reservation") {
    w = apply(*db, plan_release(company, w, res));
    REQUIRE(w.balance_uot == 10'000);
    REQUIRE(w.reserved_uot == 0);
    REQUIRE(w.spent_uot == 0);
    REQUIRE(same(stored_wallet(*db), w));
    REQUIRE_FALSE(db->get(tenant_key(company, record_kind::reservation, "call_1"))->has_value());
    REQUIRE(db->scan(tenant_prefix(company, record_kind::ledger), std::nullopt, 10)->empty());
  }
  SECTION("a settle entry without call id takes the reservation's") {
    auto e = entry_for("", 4, 10);
    w = apply(*db, plan_settle(company, w, res, e));
    REQUIRE(decode_ledger_entry(**db->get(ledger_key(company, 4)))->call_id == "call_1");
  }
}

TEST_CASE("writing a settle batch twice leaves the same state", "[wallet]") {
  temp_dir dir;
  auto db = *database::open(dir.path(), durability::wal);
  wallet_record w = apply(*db, plan_credit(company, {}, 1'000, std::string("k"), "{}"));
  reservation_record res{"call_9", 400, 0};
  w = apply(*db, plan_reserve(company, w, res));
  auto settle = plan_settle(company, w, res, entry_for("call_9", 3, 250));
  REQUIRE(settle.ok());
  REQUIRE(db->write(settle->batch).ok());
  auto snapshot = db->scan("", std::nullopt, 1000);
  // A crash-and-retry that replays the batch must not double charge.
  REQUIRE(db->write(settle->batch).ok());
  auto again = db->scan("", std::nullopt, 1000);
  REQUIRE(snapshot->size() == again->size());
  for (std::size_t i = 0; i < snapshot->size(); ++i) {
    REQUIRE((*snapshot)[i].key == (*again)[i].key);
    REQUIRE((*snapshot)[i].value == (*again)[i].value);
  }
  REQUIRE(same(stored_wallet(*db), settle->after));
  REQUIRE(db->get(tenant_key(company, record_kind::settled_call, "call_9"))->has_value());
}

TEST_CASE("the invariant holds across random sequences, in memory and on disk", "[wallet]") {
  temp_dir dir;
  std::mt19937_64 rng(0x0a6u);
  auto db = *database::open(dir.path(), durability::wal);
  wallet_record w;
  std::map<std::string, reservation_record> open;
  std::uint64_t seq = 0;
  int next_call = 0, settles = 0, insufficient = 0;
  auto pick = [&](auto& m) {
    auto it = m.begin();
    std::advance(it, static_cast<long>(rng() % m.size()));
    return it->second;
  };
  for (int step = 0; step < 2000; ++step) {
    // Credits are rarer than calls so the wallet regularly runs dry.
    auto roll = rng() % 7;
    auto op = roll == 0 ? 0 : 1 + roll % 3;
    if (op == 0) {
      w = apply(*db, plan_credit(company, w, static_cast<uot>(rng() % 6'000), std::nullopt, ""));
    } else if (op == 1) {
      reservation_record res{"call_" + std::to_string(next_call++),
                             static_cast<uot>(rng() % 3'000), 0};
      auto r = plan_reserve(company, w, res);
      if (w.balance_uot < res.amount_uot) {
        REQUIRE_FALSE(r.ok());
        REQUIRE(r.error().code == errc::insufficient_quota);
        ++insufficient;
      } else {
        w = apply(*db, std::move(r));
        open[res.call_id] = res;
      }
    } else if (op == 2 && !open.empty()) {
      auto res = pick(open);
      // Costs from zero to well above the reservation.
      auto cost = static_cast<uot>(rng() % 4'000);
      w = apply(*db, plan_settle(company, w, res, entry_for(res.call_id, ++seq, cost)));
      open.erase(res.call_id);
      ++settles;
    } else if (op == 3 && !open.empty()) {
      auto res = pick(open);
      w = apply(*db, plan_release(company, w, res));
      open.erase(res.call_id);
    }
    REQUIRE(invariant(w));
    REQUIRE(w.reserved_uot >= 0);
  }
  REQUIRE(settles > 0);
  REQUIRE(insufficient > 0);

  // Reopen: the disk agrees with memory, record by record.
  db->close();
  db = *database::open(dir.path(), durability::wal);
  auto disk = stored_wallet(*db);
  REQUIRE(same(disk, w));
  REQUIRE(invariant(disk));
  uot reserved_sum = 0;
  auto reservations = db->scan(tenant_prefix(company, record_kind::reservation), std::nullopt, 100'000);
  REQUIRE(reservations->size() == open.size());
  for (auto& row : *reservations) {
    auto r = decode_reservation(row.value);
    REQUIRE(r.ok());
    REQUIRE(open.count(r->call_id) == 1);
    reserved_sum += r->amount_uot;
  }
  REQUIRE(reserved_sum == disk.reserved_uot);
  uot spent_sum = 0;
  auto ledger = db->scan(tenant_prefix(company, record_kind::ledger), std::nullopt, 100'000);
  REQUIRE(ledger->size() == static_cast<std::size_t>(settles));
  std::uint64_t expect_seq = 1;
  for (auto& row : *ledger) {
    auto e = decode_ledger_entry(row.value);
    REQUIRE(e.ok());
    REQUIRE(e->seq == expect_seq++); // key order is sequence order
    spent_sum += e->cost_uot;
    REQUIRE(db->get(tenant_key(company, record_kind::settled_call, e->call_id))->has_value());
  }
  REQUIRE(spent_sum == disk.spent_uot);
  REQUIRE(db->scan(tenant_prefix(company, record_kind::settled_call), std::nullopt, 100'000)->size() ==
          static_cast<std::size_t>(settles));
}
