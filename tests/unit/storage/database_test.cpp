#include <catch2/catch.hpp>

#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "oag/storage/database.hpp"
#include "oag/storage/keys.hpp"
#include "temp_dir.hpp"

using namespace oag::storage;
using oag::errc;
using oag::test::temp_dir;

namespace {

std::shared_ptr<database> open_db(const std::string& dir, durability mode = durability::wal) {
  auto db = database::open(dir, mode);
  REQUIRE(db.ok());
  return *db;
}

// "p/000" ... zero-padded so byte order is numeric order.
std::string pkey(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "p/%03d", i);
  return buf;
}

std::vector<std::string> keys_of(const std::vector<kv>& rows) {
  std::vector<std::string> out;
  for (auto& r : rows) out.push_back(r.key);
  return out;
}

std::vector<std::string> range(int from, int to_inclusive, int step = 1) {
  std::vector<std::string> out;
  for (int i = from; step > 0 ? i <= to_inclusive : i >= to_inclusive; i += step)
    out.push_back(pkey(i));
  return out;
}

} // namespace

TEST_CASE("put, get and missing keys", "[database]") {
  temp_dir dir;
  auto db = open_db(dir.path());
  REQUIRE(db->mode() == durability::wal);
  REQUIRE(db->put("k", "v").ok());
  auto got = db->get("k");
  REQUIRE(got.ok());
  REQUIRE(got->value() == "v");
  auto missing = db->get("nope");
  REQUIRE(missing.ok());
  REQUIRE_FALSE(missing->has_value());
  // Binary keys and values, including NUL bytes, survive unchanged.
  std::string bk("a\0b\xff", 4), bv("\0\0\x01", 3);
  REQUIRE(db->put(bk, bv).ok());
  REQUIRE(db->get(bk)->value() == bv);
  REQUIRE_FALSE(db->get("a")->has_value());
  // An empty value is present, not missing.
  REQUIRE(db->put("empty", "").ok());
  REQUIRE(db->get("empty")->has_value());
}

TEST_CASE("write batches apply puts and deletes in order", "[database]") {
  temp_dir dir;
  auto db = open_db(dir.path());
  REQUIRE(db->put("gone", "1").ok());
  write_batch b;
  b.put("a", "1");
  b.put("b", "2");
  b.del("gone");
  b.put("c", "temp");
  b.del("c");
  b.put("b", "3");
  REQUIRE(b.size() == 6);
  REQUIRE(db->write(b).ok());
  REQUIRE(b.size() == 6); // left intact for a retry
  REQUIRE(db->get("a")->value() == "1");
  REQUIRE(db->get("b")->value() == "3");
  REQUIRE_FALSE(db->get("c")->has_value());
  REQUIRE_FALSE(db->get("gone")->has_value());

  write_batch empty;
  REQUIRE(empty.size() == 0);
  REQUIRE(db->write(empty).ok());

  // A moved-from batch stays usable.
  write_batch moved = std::move(b);
  REQUIRE(moved.size() == 6);
  b.put("x", "y");
  REQUIRE(b.size() == 1);
}

TEST_CASE("a batch becomes visible all at once", "[database]") {
  temp_dir dir;
  auto db = open_db(dir.path());
  constexpr int n = 500;
  std::atomic<bool> done{false};
  std::atomic<int> torn{0}, observations{0};
  std::thread reader([&] {
    while (!done.load()) {
      auto rows = db->scan("p/", std::nullopt, 10 * n);
      if (!rows.ok()) { ++torn; continue; }
      auto size = rows->size();
      // Only whole batches: 0, n, 2n, ... keys.
      if (size % n != 0) ++torn;
      ++observations;
    }
  });
  for (int round = 0; round < 4; ++round) {
    // Let the reader get a scan in before each write so the two overlap
    // however the threads are scheduled.
    int seen = observations.load();
    while (observations.load() == seen) std::this_thread::yield();
    write_batch b;
    for (int i = 0; i < n; ++i) b.put("p/" + std::to_string(round) + "/" + std::to_string(i), "v");
    REQUIRE(db->write(b).ok());
  }
  done = true;
  reader.join();
  REQUIRE(torn == 0);
  REQUIRE(observations > 0);
  REQUIRE(db->scan("p/", std::nullopt, 10 * n)->size() == 4 * n);
}

TEST_CASE("scan pages exactly at page borders", "[database]") {
  temp_dir dir;
  auto db = open_db(dir.path());
  write_batch b;
  for (int i = 0; i < 25; ++i) b.put(pkey(i), "v" + std::to_string(i));
  // Neighbours just outside the prefix on both sides.
  b.put("p.", "before-ish");  // '.' < '/'
  b.put("p", "shorter");
  b.put("p0", "after");       // '0' > '/'
  b.put("q/000", "other");
  REQUIRE(db->write(b).ok());

  SECTION("forward pages of 10") {
    auto p1 = db->scan("p/", std::nullopt, 10);
    REQUIRE(p1.ok());
    REQUIRE(keys_of(*p1) == range(0, 9));
    REQUIRE(p1->front().value == "v0");
    auto p2 = db->scan("p/", std::string_view(p1->back().key), 10);
    REQUIRE(keys_of(*p2) == range(10, 19));
    auto p3 = db->scan("p/", std::string_view(p2->back().key), 10);
    REQUIRE(keys_of(*p3) == range(20, 24));
    auto p4 = db->scan("p/", std::string_view(p3->back().key), 10);
    REQUIRE(p4->empty());
  }
  SECTION("a page that ends exactly at the range end") {
    auto p = db->scan("p/", std::string_view(pkey(14)), 10);
    REQUIRE(keys_of(*p) == range(15, 24));
    REQUIRE(db->scan("p/", std::string_view(pkey(24)), 10)->empty());
  }
  SECTION("reverse pages of 10") {
    auto p1 = db->scan("p/", std::nullopt, 10, true);
    REQUIRE(keys_of(*p1) == range(24, 15, -1));
    auto p2 = db->scan("p/", std::string_view(p1->back().key), 10, true);
    REQUIRE(keys_of(*p2) == range(14, 5, -1));
    auto p3 = db->scan("p/", std::string_view(p2->back().key), 10, true);
    REQUIRE(keys_of(*p3) == range(4, 0, -1));
    REQUIRE(db->scan("p/", std::string_view(pkey(0)), 10, true)->empty());
  }
  SECTION("cursors that are not stored keys") {
    // Between p/004 and p/005.
    REQUIRE(keys_of(*db->scan("p/", std::string_view("p/004x"), 2)) == range(5, 6));
    REQUIRE(keys_of(*db->scan("p/", std::string_view("p/004x"), 2, true)) == range(4, 3, -1));
    // Before the range: forward starts at the beginning, reverse finds nothing.
    REQUIRE(keys_of(*db->scan("p/", std::string_view("a"), 2)) == range(0, 1));
    REQUIRE(db->scan("p/", std::string_view("a"), 2, true)->empty());
    // After the range: forward finds nothing, reverse starts at the end.
    REQUIRE(db->scan("p/", std::string_view("z"), 2)->empty());
    REQUIRE(keys_of(*db->scan("p/", std::string_view("z"), 2, true)) == range(24, 23, -1));
  }
  SECTION("limits") {
    REQUIRE(db->scan("p/", std::nullopt, 0)->empty());
    REQUIRE(db->scan("p/", std::nullopt, 1000)->size() == 25);
    REQUIRE(db->scan("p/", std::nullopt, 1000, true)->size() == 25);
    REQUIRE(db->scan("nothing/", std::nullopt, 10)->empty());
    REQUIRE(db->scan("nothing/", std::nullopt, 10, true)->empty());
  }
  SECTION("the empty prefix covers everything") {
    REQUIRE(db->scan("", std::nullopt, 1000)->size() == 29);
    auto last = db->scan("", std::nullopt, 1, true);
    REQUIRE(last->front().key == "q/000");
  }
}

TEST_CASE("scan handles prefixes ending in 0xff", "[database]") {
  temp_dir dir;
  auto db = open_db(dir.path());
  REQUIRE(db->put("\xfe\xff", "before").ok());
  REQUIRE(db->put("\xff", "a").ok());
  REQUIRE(db->put("\xff\x01", "b").ok());
  REQUIRE(db->put("\xff\xff", "c").ok());
  REQUIRE(db->put("\xff\xff\xff", "d").ok());
  auto fwd = db->scan("\xff", std::nullopt, 10);
  REQUIRE(fwd->size() == 4);
  auto rev = db->scan("\xff\xff", std::nullopt, 10, true);
  REQUIRE(keys_of(*rev) == std::vector<std::string>{"\xff\xff\xff", "\xff\xff"});
  auto tail = db->scan("\xfe", std::nullopt, 10, true);
  REQUIRE(keys_of(*tail) == std::vector<std::string>{"\xfe\xff"});
}

TEST_CASE("tenant scans never return a neighbouring company", "[database]") {
  temp_dir dir;
  auto db = open_db(dir.path());
  REQUIRE(db->put(tenant_key("co_a", record_kind::api_key, "k1"), "a1").ok());
  REQUIRE(db->put(tenant_key("co_ab", record_kind::api_key, "k1"), "ab1").ok());
  REQUIRE(db->put(tenant_key("co_a", record_kind::provider, "p"), "ap").ok());
  auto rows = db->scan(tenant_prefix("co_a", record_kind::api_key), std::nullopt, 10);
  REQUIRE(rows->size() == 1);
  REQUIRE(rows->front().value == "a1");
  auto rev = db->scan(tenant_prefix("co_a", record_kind::api_key), std::nullopt, 10, true);
  REQUIRE(rev->size() == 1);
  REQUIRE(rev->front().value == "a1");
}

TEST_CASE("for_each visits the prefix in order and can stop", "[database]") {
  temp_dir dir;
  auto db = open_db(dir.path());
  for (int i = 0; i < 5; ++i) REQUIRE(db->put(pkey(i), std::to_string(i)).ok());
  REQUIRE(db->put("q", "x").ok());
  std::vector<std::string> seen;
  REQUIRE(db->for_each("p/", [&](std::string_view k, std::string_view) {
    seen.emplace_back(k);
    return true;
  }).ok());
  REQUIRE(seen == range(0, 4));
  int calls = 0;
  REQUIRE(db->for_each("p/", [&](std::string_view, std::string_view) { return ++calls < 2; }).ok());
  REQUIRE(calls == 2);
  auto thrown = db->for_each("p/", [](std::string_view, std::string_view) -> bool {
    throw std::runtime_error("boom");
  });
  REQUIRE_FALSE(thrown.ok());
  REQUIRE(thrown.error().code == errc::internal);
}

TEST_CASE("data survives close and reopen", "[database]") {
  temp_dir dir;
  auto path = dir.sub("nested/db"); // parent directories are created
  {
    auto db = open_db(path);
    REQUIRE(db->put("persist", "yes").ok());
    write_batch b;
    for (int i = 0; i < 100; ++i) b.put(pkey(i), "v");
    REQUIRE(db->write(b).ok());
    db->close();
  }
  {
    // Without an explicit close: the destructor closes.
    auto db = open_db(path);
    REQUIRE(db->get("persist")->value() == "yes");
    REQUIRE(db->scan("p/", std::nullopt, 1000)->size() == 100);
    REQUIRE(db->put("second", "run").ok());
  }
  auto db = open_db(path);
  REQUIRE(db->get("second")->value() == "run");
}

TEST_CASE("fsync mode writes durably, also from concurrent writers", "[database]") {
  temp_dir dir;
  {
    auto db = open_db(dir.path(), durability::fsync);
    REQUIRE(db->mode() == durability::fsync);
    std::vector<std::thread> writers;
    std::atomic<int> failures{0};
    for (int t = 0; t < 4; ++t) {
      writers.emplace_back([&, t] {
        for (int i = 0; i < 25; ++i) {
          write_batch b;
          b.put("w/" + std::to_string(t) + "/" + std::to_string(i), "v");
          if (!db->write(b).ok()) ++failures;
        }
      });
    }
    for (auto& w : writers) w.join();
    REQUIRE(failures == 0);
    REQUIRE(db->put("single", "1").ok());
  }
  auto db = open_db(dir.path(), durability::fsync);
  REQUIRE(db->scan("w/", std::nullopt, 1000)->size() == 100);
  REQUIRE(db->get("single")->value() == "1");
}

TEST_CASE("a closed database fails every call with storage_failure", "[database]") {
  temp_dir dir;
  auto db = open_db(dir.path());
  REQUIRE(db->put("k", "v").ok());
  db->close();
  db->close(); // idempotent
  auto g = db->get("k");
  REQUIRE_FALSE(g.ok());
  REQUIRE(g.error().code == errc::storage_failure);
  auto p = db->put("k", "v");
  REQUIRE_FALSE(p.ok());
  REQUIRE(p.error().code == errc::storage_failure);
  write_batch b;
  b.put("k", "v");
  auto w = db->write(b);
  REQUIRE_FALSE(w.ok());
  REQUIRE(w.error().code == errc::storage_failure);
  auto s = db->scan("", std::nullopt, 10);
  REQUIRE_FALSE(s.ok());
  REQUIRE(s.error().code == errc::storage_failure);
  auto f = db->for_each("", [](std::string_view, std::string_view) { return true; });
  REQUIRE_FALSE(f.ok());
  REQUIRE(f.error().code == errc::storage_failure);
  // The data written before close is still there for the next open.
  auto again = open_db(dir.path());
  REQUIRE(again->get("k")->value() == "v");
}

TEST_CASE("open failures are reported, not thrown", "[database]") {
  temp_dir dir;
  auto db = open_db(dir.path());
  // The LOCK file is held by the first instance.
  auto second = database::open(dir.path(), durability::wal);
  REQUIRE_FALSE(second.ok());
  REQUIRE(second.error().code == errc::storage_failure);
  // A regular file where the directory should be.
  auto file = dir.sub("file");
  std::FILE* fp = std::fopen(file.c_str(), "w");
  REQUIRE(fp != nullptr);
  std::fclose(fp);
  auto bad = database::open(file, durability::wal);
  REQUIRE_FALSE(bad.ok());
  REQUIRE(bad.error().code == errc::storage_failure);
}
