#pragma once
/// The RocksDB wrapper. Only this library links RocksDB; everything above
/// sees `database` and `write_batch`. All methods are thread-safe (RocksDB
/// is); callers own their key ranges (a tenant actor writes only its keys).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "oag/error.hpp"

namespace oag::storage {

/// How hard a write tries to survive a crash.
enum class durability : std::uint8_t {
  /// WAL written, not fsynced: survives kill -9 (the default).
  wal = 0,
  /// WAL fsynced before acknowledging: survives power loss. Concurrent
  /// writers are group-committed by RocksDB.
  fsync = 1,
};

/// A set of puts and deletes applied atomically.
class write_batch {
 public:
  write_batch();
  ~write_batch();
  write_batch(write_batch&&) noexcept;
  write_batch& operator=(write_batch&&) noexcept;
  write_batch(const write_batch&) = delete;
  write_batch& operator=(const write_batch&) = delete;

  /// Adds a put of `key` to `value`.
  void put(std::string_view key, std::string_view value);
  /// Adds a delete of `key`.
  void del(std::string_view key);
  /// Number of operations in the batch.
  std::size_t size() const noexcept;

 private:
  friend class database;
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// A key/value pair returned by a scan.
struct kv {
  std::string key;   ///< the full key, prefix included
  std::string value; ///< the stored bytes
};

/// An open RocksDB database.
class database {
 public:
  ~database();
  database(const database&) = delete;
  database& operator=(const database&) = delete;

  /// Opens (creating if needed, parent directories included) the database
  /// under `dir`, tuned for a small memory footprint.
  static result<std::shared_ptr<database>> open(const std::string& dir,
                                                durability mode);

  /// Reads one key; nullopt when absent.
  result<std::optional<std::string>> get(std::string_view key) const;

  /// Writes a batch atomically with the configured durability. The batch is
  /// left as it was, so a failed write can be retried with the same batch.
  result<void> write(write_batch& batch);

  /// Writes one key (a batch of one).
  result<void> put(std::string_view key, std::string_view value);

  /// Returns up to `limit` pairs whose key starts with `prefix`, in key order,
  /// starting strictly after `after` when given (else at the prefix start).
  /// `reverse` walks from the end of the prefix range backwards.
  result<std::vector<kv>> scan(std::string_view prefix,
                               std::optional<std::string_view> after,
                               std::size_t limit, bool reverse = false) const;

  /// Calls `fn` for every pair under `prefix`; stops when `fn` returns false.
  result<void> for_each(std::string_view prefix,
                        const std::function<bool(std::string_view key,
                                                 std::string_view value)>& fn) const;

  /// Flushes memtables and closes; further calls fail. Idempotent.
  void close();

  /// The durability every write of this database uses.
  durability mode() const noexcept { return mode_; }

 private:
  database() = default;
  struct impl;
  std::unique_ptr<impl> impl_;
  durability mode_ = durability::wal;
};

} // namespace oag::storage
