#include "oag/storage/database.hpp"

#include <filesystem>
#include <mutex>
#include <shared_mutex>
#include <system_error>

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

namespace oag::storage {

namespace {

rocksdb::Slice to_slice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

std::string_view to_view(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

failure storage_error(const char* op, const std::string& detail) {
  return make_failure(errc::storage_failure, std::string{"storage "} + op + " failed: " + detail);
}

failure status_error(const char* op, const rocksdb::Status& st) {
  return storage_error(op, st.ToString());
}

failure closed_error(const char* op) { return storage_error(op, "database is closed"); }

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// The smallest key greater than every key starting with `prefix`, or nullopt
// when no such key exists (empty prefix or all 0xff bytes).
std::optional<std::string> prefix_successor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty()) {
    auto last = static_cast<unsigned char>(s.back());
    if (last != 0xff) {
      s.back() = static_cast<char>(last + 1);
      return s;
    }
    s.pop_back();
  }
  return std::nullopt;
}

rocksdb::Options make_options() {
  rocksdb::Options opts;
  opts.create_if_missing = true;
  // Memory: the daemon idles under ~20 MB RSS, so memtables stay small (two
  // 4 MiB buffers at most), the block cache is modest, and index/filter
  // blocks live inside that cache instead of growing unbounded per file.
  opts.write_buffer_size = 4 << 20;
  opts.max_write_buffer_number = 2;
  opts.db_write_buffer_size = 8 << 20;
  opts.max_open_files = 128;
  opts.max_background_jobs = 2;
  opts.keep_log_file_num = 4;
  opts.max_log_file_size = 1 << 20;
  // Bounds the WAL so a quiet tenant's data is flushed eventually and
  // recovery after kill -9 stays quick.
  opts.max_total_wal_size = 32 << 20;
  rocksdb::BlockBasedTableOptions table;
  // Index and filters are partitioned: a point read loads the small
  // top-level index (pinned) and one 4 KiB partition, not a whole index
  // block. A single big index block (MBs after compaction) does not fit a
  // cache shard, so it was decompressed again on every read (bench-agents:
  // 61–85 % of the daemon's CPU). Few shards, so partitions are not split
  // over tiny shards either.
  table.block_cache = rocksdb::NewLRUCache(8 << 20, /*num_shard_bits=*/2);
  table.index_type = rocksdb::BlockBasedTableOptions::IndexType::kTwoLevelIndexSearch;
  table.partition_filters = true;
  table.metadata_block_size = 4096;
  table.cache_index_and_filter_blocks = true;
  table.cache_index_and_filter_blocks_with_high_priority = true;
  table.pin_top_level_index_and_filter = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10, false));
  opts.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return opts;
}

} // namespace

// ---------------------------------------------------------------- write_batch

struct write_batch::impl {
  rocksdb::WriteBatch batch;
};

write_batch::write_batch() : impl_(std::make_unique<impl>()) {}
write_batch::~write_batch() = default;
write_batch::write_batch(write_batch&&) noexcept = default;
write_batch& write_batch::operator=(write_batch&&) noexcept = default;

void write_batch::put(std::string_view key, std::string_view value) {
  // A moved-from batch is reusable rather than a null dereference.
  if (!impl_) impl_ = std::make_unique<impl>();
  impl_->batch.Put(to_slice(key), to_slice(value));
}

void write_batch::del(std::string_view key) {
  if (!impl_) impl_ = std::make_unique<impl>();
  impl_->batch.Delete(to_slice(key));
}

std::size_t write_batch::size() const noexcept {
  return impl_ ? static_cast<std::size_t>(impl_->batch.Count()) : 0;
}

// ------------------------------------------------------------------- database

struct database::impl {
  // Shared for every operation, exclusive for close(), so close() cannot
  // free the DB under a concurrent reader or writer.
  mutable std::shared_mutex mutex;
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::WriteOptions write_options;
};

database::~database() { close(); }

result<std::shared_ptr<database>> database::open(const std::string& dir, durability mode) {
  try {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return storage_error("open", "cannot create " + dir + ": " + ec.message());
    rocksdb::DB* raw = nullptr;
    auto st = rocksdb::DB::Open(make_options(), dir, &raw);
    if (!st.ok()) return status_error("open", st);
    std::shared_ptr<database> out(new database());
    out->impl_ = std::make_unique<impl>();
    out->impl_->db.reset(raw);
    // sync=true makes RocksDB fsync the WAL before acknowledging; concurrent
    // sync writers share one fsync through its group commit.
    out->impl_->write_options.sync = (mode == durability::fsync);
    out->mode_ = mode;
    return out;
  } catch (const std::exception& e) {
    return storage_error("open", e.what());
  } catch (...) {
    return storage_error("open", "unknown error");
  }
}

result<std::optional<std::string>> database::get(std::string_view key) const {
  try {
    std::shared_lock lock(impl_->mutex);
    if (!impl_->db) return closed_error("get");
    std::string value;
    auto st = impl_->db->Get(rocksdb::ReadOptions(), to_slice(key), &value);
    if (st.IsNotFound()) return std::optional<std::string>{};
    if (!st.ok()) return status_error("get", st);
    return std::optional<std::string>{std::move(value)};
  } catch (const std::exception& e) {
    return storage_error("get", e.what());
  } catch (...) {
    return storage_error("get", "unknown error");
  }
}

result<void> database::write(write_batch& batch) {
  try {
    std::shared_lock lock(impl_->mutex);
    if (!impl_->db) return closed_error("write");
    if (!batch.impl_ || batch.size() == 0) return {};
    auto st = impl_->db->Write(impl_->write_options, &batch.impl_->batch);
    if (!st.ok()) return status_error("write", st);
    return {};
  } catch (const std::exception& e) {
    return storage_error("write", e.what());
  } catch (...) {
    return storage_error("write", "unknown error");
  }
}

result<void> database::put(std::string_view key, std::string_view value) {
  try {
    std::shared_lock lock(impl_->mutex);
    if (!impl_->db) return closed_error("put");
    auto st = impl_->db->Put(impl_->write_options, to_slice(key), to_slice(value));
    if (!st.ok()) return status_error("put", st);
    return {};
  } catch (const std::exception& e) {
    return storage_error("put", e.what());
  } catch (...) {
    return storage_error("put", "unknown error");
  }
}

result<std::vector<kv>> database::scan(std::string_view prefix,
                                       std::optional<std::string_view> after,
                                       std::size_t limit, bool reverse) const {
  try {
    std::shared_lock lock(impl_->mutex);
    if (!impl_->db) return closed_error("scan");
    std::vector<kv> out;
    if (limit == 0) return out;

    // Bounds let RocksDB stop at the range edge instead of wading through
    // the next range's keys and tombstones.
    std::string lower(prefix);
    auto upper = prefix_successor(prefix);
    rocksdb::Slice lower_slice(lower);
    rocksdb::Slice upper_slice;
    rocksdb::ReadOptions ro;
    if (!lower.empty()) ro.iterate_lower_bound = &lower_slice;
    if (upper) {
      upper_slice = rocksdb::Slice(*upper);
      ro.iterate_upper_bound = &upper_slice;
    }
    std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro));

    if (!reverse) {
      if (after && *after >= prefix) {
        it->Seek(to_slice(*after));
        if (it->Valid() && to_view(it->key()) == *after) it->Next();
      } else {
        it->Seek(to_slice(prefix));
      }
      for (; it->Valid() && out.size() < limit; it->Next()) {
        auto k = to_view(it->key());
        if (!starts_with(k, prefix)) break;
        out.push_back(kv{std::string(k), it->value().ToString()});
      }
    } else {
      // Seek targets are kept inside the bounds rather than relying on how
      // the iterator treats out-of-bound targets.
      if (after && *after < prefix) return out;
      if (after && !(upper && *after >= *upper)) {
        it->SeekForPrev(to_slice(*after));
        if (it->Valid() && to_view(it->key()) == *after) it->Prev();
      } else {
        // With the upper bound set, SeekToLast lands on the range's last key.
        it->SeekToLast();
      }
      for (; it->Valid() && out.size() < limit; it->Prev()) {
        auto k = to_view(it->key());
        if (!starts_with(k, prefix)) break;
        out.push_back(kv{std::string(k), it->value().ToString()});
      }
    }
    if (!it->status().ok()) return status_error("scan", it->status());
    return out;
  } catch (const std::exception& e) {
    return storage_error("scan", e.what());
  } catch (...) {
    return storage_error("scan", "unknown error");
  }
}

result<void> database::for_each(
    std::string_view prefix,
    const std::function<bool(std::string_view key, std::string_view value)>& fn) const {
  try {
    std::shared_lock lock(impl_->mutex);
    if (!impl_->db) return closed_error("for_each");
    std::string lower(prefix);
    auto upper = prefix_successor(prefix);
    rocksdb::Slice upper_slice;
    rocksdb::ReadOptions ro;
    if (upper) {
      upper_slice = rocksdb::Slice(*upper);
      ro.iterate_upper_bound = &upper_slice;
    }
    std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro));
    for (it->Seek(lower); it->Valid(); it->Next()) {
      auto k = to_view(it->key());
      if (!starts_with(k, prefix)) break;
      bool more = true;
      try {
        more = fn(k, to_view(it->value()));
      } catch (const std::exception& e) {
        // The callback's fault, not the store's: report it as internal.
        return make_failure(errc::internal, std::string{"for_each callback failed: "} + e.what());
      } catch (...) {
        return make_failure(errc::internal, "for_each callback failed");
      }
      if (!more) break;
    }
    if (!it->status().ok()) return status_error("for_each", it->status());
    return {};
  } catch (const std::exception& e) {
    return storage_error("for_each", e.what());
  } catch (...) {
    return storage_error("for_each", "unknown error");
  }
}

void database::close() {
  if (!impl_) return;
  try {
    std::unique_lock lock(impl_->mutex);
    if (!impl_->db) return;
    // Flushing memtables first means the next open replays no WAL, and data
    // written without fsync is in synced SST files once close returns.
    rocksdb::FlushOptions fo;
    fo.wait = true;
    (void)impl_->db->Flush(fo);
    (void)impl_->db->SyncWAL();
    (void)impl_->db->Close();
    impl_->db.reset();
  } catch (...) {
    // close() runs from the destructor too; there is nobody to report to,
    // and the OS releases the files either way.
    if (impl_) impl_->db.reset();
  }
}

} // namespace oag::storage
