#include "store/s3/s3_store.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <list>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "core/bytes.h"
#include "crypto/primitives.h"
#include "store/local/key_listing.h"
#include "store/s3/key_names.h"
#include "store/s3/object_record.h"
#include "store/s3/upstream_bucket.h"

namespace blobseal::store {

using s3::ObjectRecord;

namespace {

constexpr std::uint64_t kMinPartSize = 5u << 20;
constexpr std::uint64_t kMaxPartSize = 5ull << 30;
constexpr std::uint32_t kMaxParts = 10000;
constexpr std::uint64_t kMaxCopyObject = 5ull << 30;  // CopyObject's limit; larger bodies are copied in parts
constexpr std::uint64_t kCopyPartSize = 1ull << 30;
constexpr std::size_t kListPageNames = 1000;
constexpr int kCommitAttempts = 32;
constexpr std::uint64_t kMaxReadWindow = 64u << 20;
// Bodies of a known size up to this are still read into memory first (one PUT that can be retried).
constexpr std::uint64_t kBufferedBodyLimit = 1u << 20;
constexpr std::string_view kBodyMetadata = "x-amz-meta-blobseal-body";
constexpr std::string_view kRecordMetadata = "x-amz-meta-blobseal-record";

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string random_id() {
  std::array<std::uint8_t, 16> bytes{};
  crypto::random_bytes(bytes);
  return to_hex(bytes);
}

std::array<std::uint8_t, 16> random_revision() {
  std::array<std::uint8_t, 16> bytes{};
  crypto::random_bytes(bytes);
  return bytes;
}

bool is_hex_id(std::string_view id) {
  return id.size() == 32 &&
         std::all_of(id.begin(), id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Runs fn(0..n-1) on up to `concurrency` threads; the first error wins.
Status parallel_for(std::size_t n, std::size_t concurrency, const std::function<Status(std::size_t)>& fn) {
  if (n == 0) return {};
  std::size_t threads = std::min(n, std::max<std::size_t>(concurrency, 1));
  std::atomic<std::size_t> next{0};
  std::mutex error_mutex;
  std::optional<Error> first_error;
  auto work = [&] {
    for (;;) {
      std::size_t i = next.fetch_add(1);
      if (i >= n) return;
      {
        std::lock_guard lock(error_mutex);
        if (first_error) return;
      }
      auto status = fn(i);
      if (!status) {
        std::lock_guard lock(error_mutex);
        if (!first_error) first_error = status.error();
        return;
      }
    }
  };
  if (threads == 1) {
    work();
  } else {
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t) pool.emplace_back(work);
    for (auto& t : pool) t.join();
  }
  if (first_error) return make_error(*first_error);
  return {};
}

// Records recently read or written, by record name, valid for exactly one ETag: a listing that finds the same ETag
// upstream uses the record held here instead of fetching it. Bounded in bytes; least recently used goes first.
class RecordCache {
 public:
  static constexpr std::size_t kMaxBytes = 8u << 20;
  static constexpr std::size_t kMaxEntryBytes = 256u << 10;

  std::shared_ptr<const ObjectRecord> find(const std::string& name, const std::string& etag) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(name);
    if (it == entries_.end() || it->second.etag != etag) return nullptr;
    order_.splice(order_.begin(), order_, it->second.position);
    return it->second.record;
  }

  void put(const std::string& name, const std::string& etag, const ObjectRecord& record) {
    std::size_t bytes = name.size() + record.key.size() + record.header.size() + 256;
    for (const auto& [k, v] : record.metadata) bytes += k.size() + v.size() + 64;
    std::lock_guard lock(mutex_);
    erase_locked(name);
    if (bytes > kMaxEntryBytes) return;
    order_.push_front(name);
    entries_[name] = Entry{etag, std::make_shared<const ObjectRecord>(record), bytes, order_.begin()};
    total_ += bytes;
    while (total_ > kMaxBytes && !order_.empty()) erase_locked(order_.back());
  }

  void erase(const std::string& name) {
    std::lock_guard lock(mutex_);
    erase_locked(name);
  }

 private:
  struct Entry {
    std::string etag;
    std::shared_ptr<const ObjectRecord> record;
    std::size_t bytes = 0;
    std::list<std::string>::iterator position;
  };
  void erase_locked(const std::string& name) {
    auto it = entries_.find(name);
    if (it == entries_.end()) return;
    total_ -= it->second.bytes;
    order_.erase(it->second.position);
    entries_.erase(it);
  }

  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> order_;
  std::size_t total_ = 0;
};

// Bodies that objects opened in this process are reading: a replaced or removed body is deleted when its last
// reader closes, not before.
class BodyLeases {
 public:
  void acquire(const std::string& id) {
    std::lock_guard lock(mutex_);
    ++leases_[id].readers;
  }
  // True when the body should be deleted now (retired and no reader left).
  bool release(const std::string& id) {
    std::lock_guard lock(mutex_);
    auto it = leases_.find(id);
    if (it == leases_.end()) return false;
    if (--it->second.readers > 0) return false;
    bool retired = it->second.retired;
    leases_.erase(it);
    return retired;
  }
  // True when the body can be deleted now; otherwise its last reader will.
  bool retire(const std::string& id) {
    std::lock_guard lock(mutex_);
    auto it = leases_.find(id);
    if (it == leases_.end()) return true;
    it->second.retired = true;
    return false;
  }

 private:
  struct Lease {
    int readers = 0;
    bool retired = false;
  };
  std::mutex mutex_;
  std::unordered_map<std::string, Lease> leases_;
};

enum class IfMatchForm { kNone, kQuoted, kUnquoted };

struct CurrentRecord {
  ObjectRecord record;
  std::string etag;
};

struct RecordHead {
  std::string etag;
  std::string body_id;
};

struct UploadedBody {
  std::string id;  // "" for an empty body (no object)
  std::string etag;
  std::uint64_t size = 0;
};

// Everything a store and the objects opened from it share (the objects keep it alive after the store goes).
struct StoreState {
  S3StoreOptions options;
  std::unique_ptr<net::HttpClient> client;
  std::unique_ptr<s3::UpstreamBucket> bucket;
  IfMatchForm if_match_form = IfMatchForm::kNone;
  std::atomic<bool> no_part_copy{false};  // the upstream answered UploadPartCopy with 501
  RecordCache cache;
  BodyLeases leases;
  std::array<std::mutex, 64> key_locks;
  // Opening an object (reading its record, taking a lease on its body) holds its stripe shared; retiring a body
  // after a commit holds it exclusively while it checks the leases. So an open that read the old record has its
  // lease before the old body is judged, and an open that comes later reads the new record.
  std::array<std::shared_mutex, 64> open_locks;
  // Replaced bodies waiting for their grace period (delete_body_later), oldest first: the grace is one constant.
  std::mutex deferred_mutex;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> deferred;

  bool conditional() const { return if_match_form != IfMatchForm::kNone; }
  std::string records_prefix() const { return options.prefix + "k/"; }
  std::string record_name(std::string_view key) const { return records_prefix() + s3::key_name(key); }
  std::string body_name(std::string_view id) const { return fmt::format("{}b/{}", options.prefix, id); }
  std::mutex& key_lock(const std::string& name) { return key_locks[std::hash<std::string>{}(name) % key_locks.size()]; }
  std::shared_mutex& open_lock(const std::string& name) {
    return open_locks[std::hash<std::string>{}(name) % open_locks.size()];
  }

  std::string if_match_value(const std::string& etag) const {
    return if_match_form == IfMatchForm::kQuoted ? fmt::format("\"{}\"", etag) : etag;
  }

  static ObjectInfo info_of(const ObjectRecord& record, const std::string& etag) {
    ObjectInfo info;
    info.key = record.key;
    info.body_size = record.body_size;
    info.modified_unix_ns = record.modified_unix_ns;
    info.generation = etag;
    info.header = record.header;
    info.metadata = record.metadata;
    return info;
  }

  // The current record of `key` (GET), or nullopt when there is none. A record that does not decode, or comes
  // without an ETag, is read again a few times before it is declared corrupt: some S3 fakes (s3rver) rewrite an
  // object in place, so a read can catch one half-written. The checksum makes that a detectable state, never a
  // wrong answer.
  Result<std::optional<CurrentRecord>> fetch_record(std::string_view key, const std::string& name) {
    std::optional<Error> last;
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5 * attempt));
      auto got = bucket->get(name, s3::kMaxRecordBytes);
      if (!got) {
        if (got.error().code() == ErrorCode::kNotFound) return std::optional<CurrentRecord>();
        return make_error(got.error());
      }
      auto record = s3::decode_record(got->second);
      if (!record) {
        last = record.error().with_context(fmt::format("reading the record of {:?}", key));
        continue;
      }
      if (got->first.etag.empty()) {
        last = Error(ErrorCode::kUnavailable, "the upstream answered a record without an ETag", "UpstreamUnavailable");
        continue;
      }
      if (record->key != key)
        return make_error(ErrorCode::kDataLoss,
                          fmt::format("the upstream record for {:?} names another key: refusing it", key));
      cache.put(name, got->first.etag, *record);
      return std::optional<CurrentRecord>(CurrentRecord{std::move(*record), got->first.etag});
    }
    return make_error(*last);
  }

  Result<CurrentRecord> require_record(std::string_view key) {
    auto current = BLOBSEAL_TRY(fetch_record(key, record_name(key)));
    if (!current) return make_error(ErrorCode::kNotFound, fmt::format("no object {:?}", key), "NoSuchKey");
    return std::move(*current);
  }

  // ETag and body id of the current record (HEAD), or nullopt.
  Result<std::optional<RecordHead>> head_record(const std::string& name) {
    auto head = bucket->head(name);
    if (!head) {
      if (head.error().code() == ErrorCode::kNotFound) return std::optional<RecordHead>();
      return make_error(head.error());
    }
    RecordHead out;
    out.etag = head->etag;
    if (auto body = net::find_header(head->headers, kBodyMetadata)) out.body_id = std::string(*body);
    return std::optional<RecordHead>(std::move(out));
  }

  static Status check_generation(const std::optional<RecordHead>& current, const std::optional<std::string>& expected,
                                 std::string_view key) {
    if (!expected) return {};
    if (!current && expected->empty()) return {};
    if (current && *expected == current->etag) return {};
    if (!current)
      return make_error(ErrorCode::kFailedPrecondition,
                        fmt::format("{:?} does not exist (generation {} expected)", key, *expected),
                        "PreconditionFailed");
    return make_error(ErrorCode::kFailedPrecondition,
                      expected->empty() ? fmt::format("{:?} already exists", key)
                                        : fmt::format("{:?} changed (generation {} expected)", key, *expected),
                      "PreconditionFailed");
  }

  void delete_body(const std::string& id) {
    if (!id.empty()) (void)bucket->remove(body_name(id));
  }

  // A body no record names any more: deleted once options.replaced_body_grace is over, so that another node's read
  // opened just before the swap still finds it (leases only protect this process's readers).
  void delete_body_later(const std::string& id) {
    if (options.replaced_body_grace.count() <= 0) return delete_body(id);
    std::lock_guard lock(deferred_mutex);
    deferred.emplace_back(std::chrono::steady_clock::now() + options.replaced_body_grace, id);
  }

  // Deletes the bodies whose grace period is over; called on the write paths, so reads never pay for it.
  void delete_due_bodies() {
    std::vector<std::string> due;
    {
      std::lock_guard lock(deferred_mutex);
      auto now = std::chrono::steady_clock::now();
      while (!deferred.empty() && deferred.front().first <= now) {
        due.push_back(std::move(deferred.front().second));
        deferred.pop_front();
      }
    }
    for (const auto& id : due) delete_body(id);
  }

  std::size_t pending_deletions() {
    std::lock_guard lock(deferred_mutex);
    return deferred.size();
  }

  // `name`: the record that named the body until now.
  void retire_body(const std::string& name, const std::string& id) {
    if (id.empty() || !is_hex_id(id)) return;
    bool now;
    {
      std::unique_lock lock(open_lock(name));
      now = leases.retire(id);
    }
    if (now) delete_body_later(id);
  }

  void release_body(const std::string& id) {
    if (leases.release(id)) delete_body_later(id);
  }

  // Writes `record` as the record of its key: the commit point. `expected`: compare-and-swap on the generation
  // ("" = only if absent). `must_exist`: NotFound when there is no record (replace_header). Returns the new ETag.
  Result<std::string> commit(const std::string& name, const ObjectRecord& record,
                             const std::optional<std::string>& expected, bool must_exist) {
    Bytes encoded = BLOBSEAL_TRY(s3::encode_record(record));
    for (int attempt = 0; attempt < kCommitAttempts; ++attempt) {
      // Writers of one key in this process take turns (exact even where the upstream ignores conditions, and no
      // 412 loops between our own threads); between processes, the conditional PUT decides.
      std::lock_guard lock(key_lock(name));
      auto current = BLOBSEAL_TRY(head_record(name));
      if (must_exist && !current)
        return make_error(ErrorCode::kNotFound, fmt::format("no object {:?}", record.key), "NoSuchKey");
      BLOBSEAL_TRY_STATUS(check_generation(current, expected, record.key));
      std::vector<net::Header> headers;
      if (!record.body_id.empty()) headers.push_back({std::string(kBodyMetadata), record.body_id});
      if (conditional()) {
        if (current) headers.push_back({"If-Match", if_match_value(current->etag)});
        else headers.push_back({"If-None-Match", "*"});
      }
      auto written = bucket->put(name, encoded, headers);
      if (!written) {
        if (written.error().code() != ErrorCode::kFailedPrecondition || !conditional()) return make_error(written.error());
        // Another writer came between the HEAD and the PUT — or an earlier attempt of this very PUT succeeded and
        // its answer was lost: then the record upstream is ours.
        auto now = BLOBSEAL_TRY(fetch_record(record.key, name));
        if (now && now->record.revision == record.revision) {
          if (current && current->body_id != record.body_id) retire_body(name, current->body_id);
          return now->etag;
        }
        if (expected)
          return make_error(ErrorCode::kFailedPrecondition, fmt::format("{:?} changed meanwhile", record.key),
                            "PreconditionFailed");
        continue;  // an unconditional write: read the new state and try again
      }
      if (written->etag.empty())
        return make_error(ErrorCode::kUnavailable, "the upstream answered a PUT without an ETag", "UpstreamUnavailable");
      cache.put(name, written->etag, record);
      if (current && current->body_id != record.body_id) retire_body(name, current->body_id);
      return written->etag;
    }
    return make_error(ErrorCode::kUnavailable,
                      fmt::format("{:?} kept changing: gave up after {} attempts", record.key, kCommitAttempts));
  }

  // After a failed commit: deletes the new body unless the record turns out to name it (the failure was only the
  // answer's); when that cannot be told, the body is left for remove_orphans().
  Result<std::optional<std::string>> settle_failed_commit(const std::string& name, const ObjectRecord& record) {
    auto now = fetch_record(record.key, name);
    if (!now) return std::optional<std::string>();  // unknown: keep the body
    if (*now && (*now)->record.revision == record.revision) return std::optional<std::string>((*now)->etag);
    delete_body(record.body_id);
    return std::optional<std::string>();
  }

  Result<ObjectInfo> commit_new(const std::string& name, ObjectRecord record,
                                const std::optional<std::string>& expected) {
    auto etag = commit(name, record, expected, false);
    if (etag) return info_of(record, *etag);
    auto settled = settle_failed_commit(name, record);
    if (settled && *settled) return info_of(record, **settled);
    return make_error(etag.error());
  }

  // Streams `source` into a new body: nothing for an empty body, one PUT up to part_size, else a multipart upload.
  // With `size` known, the bytes go from the source to the socket (a body of another size is refused); without it,
  // one part at a time is read into a buffer, then sent (and may be retried).
  Result<UploadedBody> upload_body(const std::string& record, ByteSource& source, std::optional<std::uint64_t> size) {
    if (size && *size > kBufferedBodyLimit) return stream_body(record, source, *size);
    auto body = BLOBSEAL_TRY(buffer_body(record, source));
    if (size && body.size != *size) {
      delete_body(body.id);
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("the body has {} bytes, not the {} announced", body.size, *size), "IncompleteBody");
    }
    return body;
  }

  // After a body of a known size was sent: the source must be at its end (and a sealing source finishes there).
  Status expect_end(ByteSource& source, std::uint64_t size) {
    std::uint8_t extra[1];
    std::size_t n = BLOBSEAL_TRY(source.read(extra));
    if (n != 0)
      return make_error(ErrorCode::kInvalidArgument, fmt::format("the body is longer than the {} bytes announced", size),
                        "IncompleteBody");
    return {};
  }

  Result<UploadedBody> stream_body(const std::string& record, ByteSource& source, std::uint64_t size) {
    UploadedBody body;
    body.id = random_id();
    body.size = size;
    std::string name = body_name(body.id);
    std::vector<net::Header> headers{{std::string(kRecordMetadata), record}};
    if (size <= options.part_size) {
      auto put = bucket->put_stream(name, source, size, headers);
      Status ended = put ? expect_end(source, size) : Status(make_error(put.error()));
      if (!ended) {
        delete_body(body.id);
        return make_error(ended.error());
      }
      body.etag = put->etag;
      return body;
    }
    // Parts of part_size, or larger when that would take more than 10,000 parts (rounded up to a MiB).
    std::uint64_t part = std::max<std::uint64_t>(options.part_size, (size + kMaxParts - 1) / kMaxParts);
    part = (part + (1u << 20) - 1) / (1u << 20) * (1u << 20);
    if (part > kMaxPartSize)
      return make_error(ErrorCode::kResourceExhausted, fmt::format("a body of {} bytes is over S3's limit", size));
    std::string upload_id = BLOBSEAL_TRY(bucket->create_upload(name, headers));
    auto uploaded = [&]() -> Result<std::string> {
      std::vector<s3::CompletedUploadPart> parts;
      std::uint32_t number = 1;
      for (std::uint64_t offset = 0; offset < size; offset += part, ++number) {
        std::uint64_t length = std::min(part, size - offset);
        auto etag = BLOBSEAL_TRY(bucket->upload_part_stream(name, upload_id, number, source, length));
        parts.push_back({number, std::move(etag)});
      }
      BLOBSEAL_TRY_STATUS(expect_end(source, size));
      BLOBSEAL_TRY(bucket->complete_upload(name, upload_id, parts, size));
      auto head = BLOBSEAL_TRY(bucket->head(name));
      if (head.size != size)
        return make_error(ErrorCode::kDataLoss,
                          fmt::format("the upstream assembled {} bytes of the {} uploaded", head.size, size));
      return head.etag;
    }();
    if (!uploaded) {
      (void)bucket->abort_upload(name, upload_id);
      delete_body(body.id);
      return make_error(uploaded.error());
    }
    body.etag = *uploaded;
    return body;
  }

  Result<UploadedBody> buffer_body(const std::string& record, ByteSource& source) {
    const std::uint64_t part_size = options.part_size;
    // The first part, and one byte more to tell whether there is a second: grown as bytes come, so a small body
    // costs its size, not a part.
    const std::size_t first_limit = static_cast<std::size_t>(part_size) + 1;
    std::vector<std::uint8_t> buffer;
    std::size_t n = 0;
    for (;;) {
      if (n == buffer.size()) {
        if (n == first_limit) break;
        buffer.resize(std::min(first_limit, std::max<std::size_t>(64u << 10, n * 2)));
      }
      std::size_t got = BLOBSEAL_TRY(source.read(std::span(buffer).subspan(n)));
      if (got == 0) break;
      n += got;
    }
    if (n == 0) return UploadedBody{};
    UploadedBody body;
    body.id = random_id();
    std::string name = body_name(body.id);
    std::vector<net::Header> headers{{std::string(kRecordMetadata), record}};
    if (n <= part_size) {
      auto put = BLOBSEAL_TRY(bucket->put(name, std::span(buffer.data(), n), headers));
      body.etag = put.etag;
      body.size = n;
      return body;
    }
    std::string upload_id = BLOBSEAL_TRY(bucket->create_upload(name, headers));
    auto uploaded = [&]() -> Result<std::string> {
      std::vector<s3::CompletedUploadPart> parts;
      std::uint64_t total = 0;
      std::size_t part_bytes = static_cast<std::size_t>(part_size);
      bool last = false;
      for (std::uint32_t number = 1; !last; ++number) {
        if (number > kMaxParts)
          return make_error(ErrorCode::kResourceExhausted,
                            fmt::format("a body over {} parts of {} bytes", kMaxParts, part_size));
        if (number > 1) {
          // The byte read ahead of the previous part starts this one.
          buffer[0] = buffer[static_cast<std::size_t>(part_size)];
          std::size_t more = BLOBSEAL_TRY(read_full(source, std::span(buffer).subspan(1)));
          n = 1 + more;
        }
        last = n <= part_size;
        part_bytes = last ? n : static_cast<std::size_t>(part_size);
        auto etag = BLOBSEAL_TRY(bucket->upload_part(name, upload_id, number, std::span(buffer.data(), part_bytes)));
        parts.push_back({number, std::move(etag)});
        total += part_bytes;
      }
      BLOBSEAL_TRY(bucket->complete_upload(name, upload_id, parts, total));
      // The assembled object must have every byte sent; its HEAD ETag is the one reads are pinned to.
      auto head = BLOBSEAL_TRY(bucket->head(name));
      if (head.size != total)
        return make_error(ErrorCode::kDataLoss, fmt::format("the upstream assembled {} bytes of the {} uploaded",
                                                            head.size, total));
      body.size = total;
      return head.etag;
    }();
    if (!uploaded) {
      (void)bucket->abort_upload(name, upload_id);
      delete_body(body.id);
      return make_error(uploaded.error());
    }
    body.etag = *uploaded;
    return body;
  }

  // Server-side copy of a body under a new id.
  Result<UploadedBody> copy_body(const ObjectRecord& source, const std::string& destination_record) {
    if (source.body_size == 0) return UploadedBody{};
    UploadedBody body;
    body.id = random_id();
    body.size = source.body_size;
    std::string from = body_name(source.body_id), to = body_name(body.id);
    std::vector<net::Header> headers{{std::string(kRecordMetadata), destination_record}};
    if (source.body_size <= kMaxCopyObject) {
      auto copied = bucket->copy(from, to, source.body_etag, headers);
      if (!copied) {
        delete_body(body.id);
        return make_error(copied.error());
      }
      // CopyObject's ETag is the MD5 of the bytes for a single-part source, but a multipart source's copy gets a
      // new one: ask.
      auto head = bucket->head(to);
      if (!head) {
        delete_body(body.id);
        return make_error(head.error());
      }
      if (head->size != source.body_size) {
        delete_body(body.id);
        return make_error(ErrorCode::kDataLoss, "a server-side copy produced a body of the wrong size");
      }
      body.etag = head->etag;
      return body;
    }
    std::string upload_id = BLOBSEAL_TRY(bucket->create_upload(to, headers));
    auto copied = [&]() -> Result<std::string> {
      std::vector<s3::CompletedUploadPart> parts;
      std::uint32_t number = 1;
      for (std::uint64_t offset = 0; offset < source.body_size; offset += kCopyPartSize, ++number) {
        std::uint64_t length = std::min(kCopyPartSize, source.body_size - offset);
        auto etag = BLOBSEAL_TRY(bucket->upload_part_copy(to, upload_id, number, from, source.body_etag, offset, length));
        parts.push_back({number, std::move(etag)});
      }
      BLOBSEAL_TRY(bucket->complete_upload(to, upload_id, parts, source.body_size));
      auto head = BLOBSEAL_TRY(bucket->head(to));
      if (head.size != source.body_size)
        return make_error(ErrorCode::kDataLoss, "a server-side copy produced a body of the wrong size");
      return head.etag;
    }();
    if (!copied) {
      (void)bucket->abort_upload(to, upload_id);
      delete_body(body.id);
      return make_error(copied.error());
    }
    body.etag = *copied;
    return body;
  }

  Status probe_conditional_writes() {
    std::string name = fmt::format("{}probe/{}", options.prefix, random_id());
    auto cleanup = [&] { (void)bucket->remove(name); };
    auto first = bucket->put(name, as_bytes("1"));
    if (!first) return make_error(first.error().with_context("probing the upstream"));
    auto refused = [&](std::string_view content, std::vector<net::Header> headers) -> Result<bool> {
      auto put = bucket->put(name, as_bytes(content), headers);
      if (put) return false;
      if (put.error().code() == ErrorCode::kFailedPrecondition) return true;
      return make_error(put.error());
    };
    if_match_form = IfMatchForm::kNone;
    auto none_match = refused("2", {{"If-None-Match", "*"}});
    if (!none_match) { cleanup(); return make_error(none_match.error()); }
    if (*none_match) {
      auto wrong_match = refused("3", {{"If-Match", "\"00000000000000000000000000000000\""}});
      if (!wrong_match) { cleanup(); return make_error(wrong_match.error()); }
      if (*wrong_match) {
        auto quoted = refused("4", {{"If-Match", fmt::format("\"{}\"", first->etag)}});
        if (quoted && !*quoted) {
          if_match_form = IfMatchForm::kQuoted;
        } else if (quoted) {
          // Ceph RGW 16 compares the raw ETag, without quotes.
          auto unquoted = refused("5", {{"If-Match", first->etag}});
          if (unquoted && !*unquoted) if_match_form = IfMatchForm::kUnquoted;
        }
      }
    }
    cleanup();
    return {};
  }
};

// A stored body, read with ranged GETs through a read-ahead window.
class BodyReader final : public RandomAccessSource {
 public:
  BodyReader(std::shared_ptr<StoreState> store, std::string key, ObjectRecord record)
      : store_(std::move(store)), key_(std::move(key)), record_(std::move(record)) {}
  ~BodyReader() override {
    stream_.reset();
    if (!record_.body_id.empty()) store_->release_body(record_.body_id);
  }

  std::uint64_t size() const override { return record_.body_size; }

  Result<std::size_t> read_at(std::uint64_t offset, std::span<std::uint8_t> out) override {
    std::lock_guard lock(mutex_);
    const std::uint64_t size = record_.body_size;
    if (offset >= size || out.empty()) return std::size_t{0};
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), size - offset));
    std::size_t copied = 0;
    int failures = 0;
    const int max_failures = std::max(1, store_->options.retry.max_attempts);
    while (copied < n) {
      const std::uint64_t position = offset + copied;
      if (!stream_ || stream_position_ != position) {
        auto opened = open_window(position, n - copied);
        if (!opened) return make_error(opened.error());
      }
      std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(n - copied, stream_end_ - stream_position_));
      auto got = stream_->read(out.subspan(copied, want));
      if (!got || *got == 0) {
        // A connection lost mid-window (or a body shorter than its Content-Length): nothing of this window went
        // to the caller yet beyond `copied`, so reading it again from here is safe.
        stream_.reset();
        if (++failures >= max_failures)
          return got ? make_error(ErrorCode::kUnavailable,
                                  fmt::format("the upstream body of {:?} ended early", key_), "UpstreamUnavailable")
                     : make_error(got.error());
        continue;
      }
      copied += *got;
      stream_position_ += *got;
      if (stream_position_ == stream_end_) finish_window();
    }
    return n;
  }

 private:
  Status open_window(std::uint64_t position, std::uint64_t wanted) {
    const std::uint64_t size = record_.body_size;
    stream_.reset();
    bool sequential = window_ > 0 && position == stream_end_;
    window_ = sequential ? std::max(std::min(window_ * 2, kMaxReadWindow), wanted) : wanted;
    window_ = std::min(window_, size - position);
    // "bytes=0-0" is misread by some servers (s3rver answers the whole object): ask for two bytes instead.
    if (position == 0 && window_ == 1 && size >= 2) window_ = 2;
    auto stream = store_->bucket->get_range(store_->body_name(record_.body_id), position, window_, size,
                                           record_.body_etag);
    if (!stream) {
      if (stream.error().code() == ErrorCode::kNotFound || stream.error().code() == ErrorCode::kFailedPrecondition)
        return explain_missing_body(stream.error());
      return make_error(stream.error());
    }
    stream_ = std::move(*stream);
    stream_position_ = position;
    stream_end_ = position + window_;
    return {};
  }

  // Reads the (empty) rest of a finished window so its connection goes back to the pool.
  void finish_window() {
    std::uint8_t probe[1];
    auto end = stream_->read(probe);
    (void)end;
    stream_.reset();
  }

  // The body is gone or changed: an object replaced or removed by another process (its body deleted), or lost.
  Status explain_missing_body(const Error& error) {
    auto now = store_->fetch_record(key_, store_->record_name(key_));
    if (now && (!*now || (*now)->record.body_id != record_.body_id))
      return make_error(ErrorCode::kFailedPrecondition,
                        fmt::format("{:?} was replaced or removed while it was being read", key_), "ObjectChanged");
    return make_error(ErrorCode::kDataLoss,
                      fmt::format("the upstream body of {:?} is missing or altered ({})", key_, error.message()));
  }

  std::shared_ptr<StoreState> store_;
  std::string key_;
  ObjectRecord record_;
  std::mutex mutex_;
  std::unique_ptr<net::ResponseStream> stream_;
  std::uint64_t stream_position_ = 0;
  std::uint64_t stream_end_ = 0;
  std::uint64_t window_ = 0;
};

class S3StoredObject final : public StoredObject {
 public:
  S3StoredObject(ObjectInfo info, std::unique_ptr<BodyReader> body) : info_(std::move(info)), body_(std::move(body)) {}
  const ObjectInfo& info() const override { return info_; }
  RandomAccessSource& body() override { return *body_; }

 private:
  ObjectInfo info_;
  std::unique_ptr<BodyReader> body_;
};

}  // namespace

// ---- S3Store ---------------------------------------------------------------------------------------------------

struct S3Store::Impl : StoreState {};

S3Store::S3Store(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
S3Store::~S3Store() = default;

std::size_t S3Store::pending_body_deletions() { return impl_->pending_deletions(); }

bool S3Store::conditional_writes() const { return impl_->conditional(); }
Status S3Store::check_upstream() { return impl_->bucket->check_exists(true); }
bool S3Store::upstream_up() const { return impl_->client->upstream_up(); }
std::uint64_t S3Store::retries() const { return impl_->client->retries(); }
const S3StoreOptions& S3Store::options() const { return impl_->options; }

Result<std::unique_ptr<S3Store>> S3Store::open_bucket(S3StoreOptions options) {
  auto invalid = [](std::string message) { return make_error(ErrorCode::kInvalidArgument, "s3 store: " + message); };
  if (options.endpoint.empty()) return invalid("an endpoint is required");
  if (options.bucket.empty()) return invalid("a bucket is required");
  if (options.part_size < kMinPartSize || options.part_size > kMaxPartSize)
    return invalid(fmt::format("part_size must be 5 MiB to 5 GiB, not {}", options.part_size));
  const std::string& prefix = options.prefix;
  if (prefix.size() > 200 || (!prefix.empty() && prefix.back() != '/') || prefix.starts_with('/') ||
      prefix.find("//") != std::string::npos ||
      !std::all_of(prefix.begin(), prefix.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
               c == '.' || c == '/';
      }))
    return invalid("the prefix must be empty or end with '/', at most 200 characters of [A-Za-z0-9._-/]");
  if (options.access_key.empty() || options.secret_key.empty())
    return invalid("credentials are required (access_key and secret_key, or AWS_ACCESS_KEY_ID and "
                   "AWS_SECRET_ACCESS_KEY)");

  net::ClientOptions client;
  client.endpoint = options.endpoint;
  if (!options.path_style) {
    // Virtual-hosted style: the bucket is the first label of the host.
    auto scheme_end = options.endpoint.find("://");
    if (scheme_end == std::string::npos) return invalid("the endpoint must start with http:// or https://");
    client.endpoint = options.endpoint.substr(0, scheme_end + 3) + options.bucket + "." +
                      options.endpoint.substr(scheme_end + 3);
  }
  while (client.endpoint.size() > 8 && client.endpoint.back() == '/') client.endpoint.pop_back();
  client.connect_timeout = options.connect_timeout;
  client.read_timeout = options.read_timeout;
  client.max_idle_connections = options.max_idle_connections;
  client.verify_tls = options.verify_tls;
  client.ca_file = options.ca_file;
  client.retry = options.retry;
  client.on_retry = options.on_retry;
  net::Credentials credentials;
  credentials.access_key = options.access_key;
  credentials.secret_key = options.secret_key.clone();
  credentials.session_token = options.session_token;
  credentials.region = options.region;
  client.credentials = std::move(credentials);

  auto impl = std::make_shared<Impl>();
  impl->client = BLOBSEAL_TRY(net::HttpClient::create(std::move(client)));
  impl->bucket = std::make_unique<s3::UpstreamBucket>(*impl->client, options.bucket, options.path_style);
  impl->options = std::move(options);
  if (impl->options.create_bucket) {
    // Created only when missing; another node may create it at the same moment (409 BucketAlreadyExists from
    // some servers even for the same owner): then it is there now, which the HEAD below checks.
    auto exists = impl->bucket->check_exists();
    if (!exists && exists.error().code() == ErrorCode::kNotFound) {
      auto created = impl->bucket->create();
      if (!created && !impl->bucket->check_exists()) return make_error(created.error());
    }
  }
  BLOBSEAL_TRY_STATUS(impl->bucket->check_exists());
  switch (impl->options.conditional_writes) {
    case S3StoreOptions::ConditionalWrites::kOff:
      impl->if_match_form = IfMatchForm::kNone;
      break;
    case S3StoreOptions::ConditionalWrites::kProbe:
      BLOBSEAL_TRY_STATUS(impl->probe_conditional_writes());
      break;
    case S3StoreOptions::ConditionalWrites::kOn:
      BLOBSEAL_TRY_STATUS(impl->probe_conditional_writes());
      if (!impl->conditional())
        return make_error(ErrorCode::kFailedPrecondition,
                          "s3 store: conditional_writes = on, but the upstream ignores If-Match / If-None-Match on PUT");
      break;
  }
  // Shared: open objects may outlive the store object itself.
  return std::unique_ptr<S3Store>(new S3Store(std::move(impl)));
}

Result<ObjectInfo> S3Store::put(std::string_view key, ByteSource& body, const PutOptions& options) {
  BLOBSEAL_TRY_STATUS(validate_key(key));
  BLOBSEAL_TRY_STATUS(s3::check_record_limits(options.header, options.metadata));
  Impl& s = *impl_;
  s.delete_due_bodies();
  std::string name = s.record_name(key);
  if (options.if_generation_match)  // fail fast; the commit decides
    BLOBSEAL_TRY_STATUS(Impl::check_generation(BLOBSEAL_TRY(s.head_record(name)), options.if_generation_match, key));

  auto uploaded = BLOBSEAL_TRY(s.upload_body(name, body, options.body_size));
  ObjectRecord record;
  record.key = std::string(key);
  record.revision = random_revision();
  record.body_id = uploaded.id;
  record.body_etag = uploaded.etag;
  record.body_size = uploaded.size;
  auto finalized = [&]() -> Status {
    record.header = options.finalize_header ? BLOBSEAL_TRY(options.finalize_header()) : options.header;
    record.metadata = options.finalize_metadata ? BLOBSEAL_TRY(options.finalize_metadata()) : options.metadata;
    return s3::check_record_limits(record.header, record.metadata);
  }();
  if (!finalized) {
    s.delete_body(record.body_id);
    return make_error(finalized.error());
  }
  record.modified_unix_ns = now_ns();
  return s.commit_new(name, std::move(record), options.if_generation_match);
}

Result<std::unique_ptr<StoredObject>> S3Store::open(std::string_view key) {
  BLOBSEAL_TRY_STATUS(validate_key(key));
  CurrentRecord current;
  {
    std::shared_lock lock(impl_->open_lock(impl_->record_name(key)));
    current = BLOBSEAL_TRY(impl_->require_record(key));
    if (!current.record.body_id.empty()) impl_->leases.acquire(current.record.body_id);
  }
  ObjectInfo info = Impl::info_of(current.record, current.etag);
  auto reader = std::make_unique<BodyReader>(impl_, std::string(key), std::move(current.record));
  return std::unique_ptr<StoredObject>(std::make_unique<S3StoredObject>(std::move(info), std::move(reader)));
}

Result<ObjectInfo> S3Store::head(std::string_view key) {
  BLOBSEAL_TRY_STATUS(validate_key(key));
  auto current = BLOBSEAL_TRY(impl_->require_record(key));
  return Impl::info_of(current.record, current.etag);
}

Result<ObjectInfo> S3Store::replace_header(std::string_view key, std::string_view expected_generation,
                                           const Bytes& header, const std::map<std::string, std::string>& metadata) {
  BLOBSEAL_TRY_STATUS(validate_key(key));
  BLOBSEAL_TRY_STATUS(s3::check_record_limits(header, metadata));
  auto current = BLOBSEAL_TRY(impl_->require_record(key));
  if (current.etag != expected_generation)
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("{:?} changed (generation {} expected)", key, expected_generation),
                      "PreconditionFailed");
  ObjectRecord record = std::move(current.record);
  record.revision = random_revision();
  record.header = header;
  record.metadata = metadata;
  auto etag = BLOBSEAL_TRY(impl_->commit(impl_->record_name(key), record, current.etag, true));
  return Impl::info_of(record, etag);
}

Result<ObjectInfo> S3Store::copy(std::string_view source, std::string_view destination, const PutOptions& options) {
  BLOBSEAL_TRY_STATUS(validate_key(source));
  BLOBSEAL_TRY_STATUS(validate_key(destination));
  BLOBSEAL_TRY_STATUS(s3::check_record_limits(options.header, options.metadata));
  Impl& s = *impl_;
  std::string name = s.record_name(destination);
  for (int attempt = 0;; ++attempt) {
    auto from = BLOBSEAL_TRY(s.require_record(source));
    if (options.if_generation_match)
      BLOBSEAL_TRY_STATUS(Impl::check_generation(BLOBSEAL_TRY(s.head_record(name)), options.if_generation_match,
                                                 destination));
    auto copied = s.copy_body(from.record, name);
    if (!copied) {
      // The source may have been replaced (its body deleted) between reading its record and copying: read again.
      bool changed = copied.error().code() == ErrorCode::kNotFound ||
                     copied.error().code() == ErrorCode::kFailedPrecondition;
      if (changed && attempt < 3) continue;
      if (changed)
        return make_error(ErrorCode::kDataLoss,
                          fmt::format("the upstream body of {:?} is missing ({})", source, copied.error().message()));
      return make_error(copied.error());
    }
    ObjectRecord record;
    record.key = std::string(destination);
    record.revision = random_revision();
    record.body_id = copied->id;
    record.body_etag = copied->etag;
    record.body_size = copied->size;
    auto finalized = [&]() -> Status {
      record.header = options.finalize_header ? BLOBSEAL_TRY(options.finalize_header()) : options.header;
      record.metadata = options.finalize_metadata ? BLOBSEAL_TRY(options.finalize_metadata()) : options.metadata;
      return s3::check_record_limits(record.header, record.metadata);
    }();
    if (!finalized) {
      s.delete_body(record.body_id);
      return make_error(finalized.error());
    }
    record.modified_unix_ns = now_ns();
    return s.commit_new(name, std::move(record), options.if_generation_match);
  }
}

Result<ObjectInfo> S3Store::compose(std::string_view destination, const std::vector<ComposeSource>& sources,
                                    const PutOptions& options) {
  BLOBSEAL_TRY_STATUS(validate_key(destination));
  for (const auto& source : sources) BLOBSEAL_TRY_STATUS(validate_key(source.key));
  BLOBSEAL_TRY_STATUS(s3::check_record_limits(options.header, options.metadata));
  Impl& s = *impl_;
  std::string name = s.record_name(destination);

  std::vector<ObjectRecord> bodies;  // the non-empty sources, in order
  for (const auto& source : sources) {
    auto current = BLOBSEAL_TRY(s.require_record(source.key));
    if (!source.generation.empty() && current.etag != source.generation)
      return make_error(ErrorCode::kFailedPrecondition,
                        fmt::format("{:?} changed (generation {} expected)", source.key, source.generation),
                        "PreconditionFailed");
    if (current.record.body_size > 0) bodies.push_back(std::move(current.record));
  }
  bool server_side = !s.no_part_copy.load();
  for (std::size_t i = 0; i + 1 < bodies.size(); ++i)
    if (bodies[i].body_size < kMinPartSize) server_side = false;
  if (!server_side && bodies.size() > 1) return ObjectStore::compose(destination, sources, options);
  if (options.if_generation_match)
    BLOBSEAL_TRY_STATUS(Impl::check_generation(BLOBSEAL_TRY(s.head_record(name)), options.if_generation_match,
                                               destination));

  auto assembled = [&]() -> Result<UploadedBody> {
    if (bodies.empty()) return UploadedBody{};
    if (bodies.size() == 1) return s.copy_body(bodies[0], name);
    // Each body as one part, or as a few equal parts when it is over S3's 5 GiB part limit.
    struct Piece {
      const ObjectRecord* body;
      std::uint64_t offset, length;
    };
    std::vector<Piece> pieces;
    std::uint64_t total = 0;
    for (const auto& body : bodies) {
      std::uint64_t count = (body.body_size + kMaxPartSize - 1) / kMaxPartSize;
      std::uint64_t length = (body.body_size + count - 1) / count;
      for (std::uint64_t offset = 0; offset < body.body_size; offset += length)
        pieces.push_back({&body, offset, std::min(length, body.body_size - offset)});
      total += body.body_size;
    }
    if (pieces.size() > kMaxParts)
      return make_error(ErrorCode::kResourceExhausted, fmt::format("{} parts are more than S3 allows", pieces.size()));
    UploadedBody out;
    out.id = random_id();
    out.size = total;
    std::string to = s.body_name(out.id);
    std::string upload_id = BLOBSEAL_TRY(
        s.bucket->create_upload(to, {{std::string(kRecordMetadata), name}}));
    auto completed = [&]() -> Result<std::string> {
      std::vector<s3::CompletedUploadPart> parts;
      std::uint32_t number = 1;
      for (const auto& piece : pieces) {
        auto etag = BLOBSEAL_TRY(s.bucket->upload_part_copy(to, upload_id, number, s.body_name(piece.body->body_id),
                                                             piece.body->body_etag, piece.offset, piece.length));
        parts.push_back({number++, std::move(etag)});
      }
      BLOBSEAL_TRY(s.bucket->complete_upload(to, upload_id, parts, total));
      auto head = BLOBSEAL_TRY(s.bucket->head(to));
      if (head.size != total)
        return make_error(ErrorCode::kDataLoss,
                          fmt::format("the upstream assembled {} bytes of the {} composed", head.size, total));
      return head.etag;
    }();
    if (!completed) {
      (void)s.bucket->abort_upload(to, upload_id);
      s.delete_body(out.id);
      if (completed.error().code() == ErrorCode::kNotFound)
        return make_error(ErrorCode::kFailedPrecondition, "a source of the composition changed meanwhile",
                          "PreconditionFailed");
      return make_error(completed.error());
    }
    out.etag = *completed;
    return out;
  }();
  if (!assembled) {
    if (assembled.error().code() != ErrorCode::kUnimplemented) return make_error(assembled.error());
    s.no_part_copy = true;  // an upstream without UploadPartCopy (s3rver): stream from now on
    return ObjectStore::compose(destination, sources, options);
  }

  ObjectRecord record;
  record.key = std::string(destination);
  record.revision = random_revision();
  record.body_id = assembled->id;
  record.body_etag = assembled->etag;
  record.body_size = assembled->size;
  auto finalized = [&]() -> Status {
    record.header = options.finalize_header ? BLOBSEAL_TRY(options.finalize_header()) : options.header;
    record.metadata = options.finalize_metadata ? BLOBSEAL_TRY(options.finalize_metadata()) : options.metadata;
    return s3::check_record_limits(record.header, record.metadata);
  }();
  if (!finalized) {
    s.delete_body(record.body_id);
    return make_error(finalized.error());
  }
  record.modified_unix_ns = now_ns();
  return s.commit_new(name, std::move(record), options.if_generation_match);
}

Status S3Store::remove(std::string_view key) {
  BLOBSEAL_TRY_STATUS(validate_key(key));
  Impl& s = *impl_;
  s.delete_due_bodies();
  std::string name = s.record_name(key);
  std::lock_guard lock(s.key_lock(name));
  auto current = BLOBSEAL_TRY(s.head_record(name));
  if (!current) return make_error(ErrorCode::kNotFound, fmt::format("no object {:?}", key), "NoSuchKey");
  BLOBSEAL_TRY_STATUS(s.bucket->remove(name));
  s.cache.erase(name);
  s.retire_body(name, current->body_id);
  return {};
}

Result<ListResult> S3Store::list(const ListRequest& request) {
  Impl& s = *impl_;
  const std::string records = s.records_prefix();

  // Visits records in key order within `range` (see local/key_listing.h), each with its key and generation only.
  local::IndexScan scan = [&](const local::KeyRange& range, std::size_t limit,
                              const local::RowVisitor& visit) -> Status {
    std::string lower = range.lower;
    if (!range.lower_inclusive) lower.push_back('\0');
    std::size_t visited = 0;
    // Returns false when the scan is over (limit, upper bound, or the visitor's wish).
    auto offer = [&](std::string key, std::string etag) -> bool {
      if (key < lower) return true;
      if (range.upper && key >= *range.upper) return false;
      ObjectInfo info;
      info.key = std::move(key);
      info.generation = std::move(etag);
      if (!visit(std::move(info))) return false;
      return ++visited < limit;
    };
    // Every key in [lower, upper) starts with their common prefix: list only names of such keys.
    std::string common = lower;
    if (range.upper) {
      std::size_t n = 0;
      while (n < common.size() && n < range.upper->size() && common[n] == (*range.upper)[n]) ++n;
      common.resize(n);
    } else {
      common.clear();
    }
    const std::string list_prefix = records + s3::name_prefix_for_keys_with(common);
    std::string start_after = records + s3::start_after_for_keys_from(lower);
    std::string continuation;
    for (;;) {
      // Always whole pages: an upstream that does not list in name order (s3rver walks its directories as the
      // filesystem returns them) can be trusted only with a complete listing, which it then is, once sorted.
      auto page = BLOBSEAL_TRY(s.bucket->list(list_prefix, start_after, continuation, kListPageNames));
      auto& names = page.names;
      auto by_name = [](const s3::ListedName& a, const s3::ListedName& b) { return a.name < b.name; };
      if (!std::is_sorted(names.begin(), names.end(), by_name)) {
        if (page.truncated)
          return make_error(ErrorCode::kUnavailable,
                            "the upstream listing is not in name order and does not fit one page",
                            "UpstreamUnavailable");
        std::sort(names.begin(), names.end(), by_name);
      }
      std::optional<std::string> past_group;
      for (const auto& entry : names) {
        if (!entry.name.starts_with(records) || entry.name <= start_after) continue;
        auto decoded = s3::decode_key_name(std::string_view(entry.name).substr(records.size()));
        if (!decoded) continue;  // not a record name: a foreign object
        if (!decoded->overflow) {
          if (!offer(std::move(decoded->key), entry.etag)) return {};
          continue;
        }
        // An overflow group: its names are in hash order, so read it whole, sort it by key, then skip past it.
        std::vector<std::pair<std::string, std::string>> members;  // key, etag
        std::string group_prefix = records + decoded->group;
        std::string group_continuation;
        for (;;) {
          auto group_page = BLOBSEAL_TRY(s.bucket->list(group_prefix, "", group_continuation, kListPageNames));
          std::vector<std::optional<std::pair<std::string, std::string>>> found(group_page.names.size());
          BLOBSEAL_TRY_STATUS(parallel_for(group_page.names.size(), s.options.list_fetch_concurrency,
                                           [&](std::size_t i) -> Status {
            auto got = s.bucket->get(group_page.names[i].name, s3::kMaxRecordBytes);
            if (!got) return got.error().code() == ErrorCode::kNotFound ? Status{} : make_error(got.error());
            auto record = s3::decode_record(got->second);
            if (!record || s.record_name(record->key) != group_page.names[i].name) return {};  // not ours
            s.cache.put(group_page.names[i].name, got->first.etag, *record);
            found[i] = std::make_pair(record->key, got->first.etag);
            return {};
          }));
          for (auto& f : found)
            if (f) members.push_back(std::move(*f));
          if (!group_page.truncated) break;
          group_continuation = group_page.next_continuation_token;
        }
        std::sort(members.begin(), members.end());
        for (auto& [key, etag] : members)
          if (!offer(std::move(key), std::move(etag))) return {};
        past_group = records + s3::start_after_past_group(decoded->group);
        break;
      }
      if (past_group) {
        start_after = std::move(*past_group);
        continuation.clear();
        continue;
      }
      if (!page.truncated) return {};
      continuation = page.next_continuation_token;
    }
  };

  auto result = BLOBSEAL_TRY(local::list_keys(request, scan));

  // Fill each listed object from its record: from the cache when the ETag listed is the one held, else fetched.
  std::vector<bool> gone(result.objects.size(), false);
  std::vector<std::size_t> missing;
  for (std::size_t i = 0; i < result.objects.size(); ++i) {
    ObjectInfo& info = result.objects[i];
    if (auto cached = s.cache.find(s.record_name(info.key), info.generation)) info = Impl::info_of(*cached, info.generation);
    else missing.push_back(i);
  }
  BLOBSEAL_TRY_STATUS(parallel_for(missing.size(), s.options.list_fetch_concurrency, [&](std::size_t m) -> Status {
    std::size_t i = missing[m];
    ObjectInfo& info = result.objects[i];
    auto current = BLOBSEAL_TRY(s.fetch_record(info.key, s.record_name(info.key)));
    if (!current) {
      gone[i] = true;  // removed since it was listed
      return {};
    }
    info = Impl::info_of(current->record, current->etag);
    return {};
  }));
  if (std::find(gone.begin(), gone.end(), true) != gone.end()) {
    std::vector<ObjectInfo> kept;
    for (std::size_t i = 0; i < result.objects.size(); ++i)
      if (!gone[i]) kept.push_back(std::move(result.objects[i]));
    result.objects = std::move(kept);
  }
  return result;
}

Result<std::size_t> S3Store::remove_orphans(std::chrono::seconds min_age) {
  Impl& s = *impl_;
  const std::string bodies = s.options.prefix + "b/";
  const std::int64_t cutoff = now_ns() - std::chrono::duration_cast<std::chrono::nanoseconds>(min_age).count();
  std::size_t removed = 0;
  auto old_enough = [&](std::string_view timestamp) {
    auto t = s3::parse_iso8601(timestamp);
    return t && *t <= cutoff;
  };
  // Uploads that never completed (an upstream that cannot list them, s3rver, keeps them).
  auto uploads = s.bucket->list_uploads(bodies);
  if (!uploads && uploads.error().code() != ErrorCode::kUnimplemented) return make_error(uploads.error());
  if (uploads) {
    for (const auto& upload : *uploads) {
      if (!old_enough(upload.initiated)) continue;
      if (s.bucket->abort_upload(upload.name, upload.upload_id)) ++removed;
    }
  }
  // Bodies whose record names another body, or is gone.
  std::string continuation;
  for (;;) {
    auto page = BLOBSEAL_TRY(s.bucket->list(bodies, "", continuation, kListPageNames));
    for (const auto& entry : page.names) {
      std::string id = entry.name.substr(bodies.size());
      if (!is_hex_id(id) || !old_enough(entry.last_modified)) continue;
      auto head = s.bucket->head(entry.name);
      if (!head) continue;
      auto record_name = net::find_header(head->headers, kRecordMetadata);
      if (!record_name || !record_name->starts_with(s.records_prefix())) continue;  // not ours to judge
      auto record = s.head_record(std::string(*record_name));
      if (!record) continue;  // unknown: keep
      if (*record && (*record)->body_id == id) continue;
      if (s.bucket->remove(entry.name)) ++removed;
    }
    if (!page.truncated) break;
    continuation = page.next_continuation_token;
  }
  return removed;
}

// ---- configuration -----------------------------------------------------------------------------------------------

namespace {

std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

// [profile] sections of an AWS shared credentials file: aws_access_key_id, aws_secret_access_key,
// aws_session_token.
std::map<std::string, std::string> read_credentials_profile(const std::filesystem::path& path,
                                                            const std::string& profile) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  std::string line, section;
  auto trim = [](std::string s) {
    auto b = s.find_first_not_of(" \t\r");
    auto e = s.find_last_not_of(" \t\r");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
  };
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = trim(line.substr(1, line.size() - 2));
      continue;
    }
    if (section != profile) continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    out[trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
  }
  return out;
}

Result<bool> parse_bool(const std::string& key, const std::string& value) {
  if (value == "true" || value == "1" || value == "yes" || value == "on") return true;
  if (value == "false" || value == "0" || value == "no" || value == "off") return false;
  return make_error(ErrorCode::kInvalidArgument, fmt::format("s3 store: {} must be true or false, not {:?}", key, value));
}

Result<std::uint64_t> parse_number(const std::string& key, const std::string& value) {
  std::uint64_t n = 0;
  std::size_t used = 0;
  try {
    n = std::stoull(value, &used);
  } catch (...) {
    used = 0;
  }
  if (used == 0 || used != value.size())
    return make_error(ErrorCode::kInvalidArgument, fmt::format("s3 store: {} must be a number, not {:?}", key, value));
  return n;
}

}  // namespace

Result<S3StoreOptions> s3_store_options(const StoreConfig& config) {
  static const std::set<std::string> kKnown = {
      "endpoint",      "bucket",    "prefix",  "region",       "access_key",         "secret_key",
      "session_token", "path_style", "verify_tls", "ca_file", "connect_timeout_ms", "read_timeout_ms",
      "part_size",     "conditional_writes", "create_bucket", "max_attempts", "replaced_body_grace_seconds"};
  for (const auto& [key, value] : config)
    if (!kKnown.contains(key))
      return make_error(ErrorCode::kInvalidArgument, fmt::format("s3 store: unknown setting {:?}", key));
  auto get = [&](const char* key) -> std::optional<std::string> {
    auto it = config.find(key);
    if (it == config.end()) return std::nullopt;
    return it->second;
  };
  S3StoreOptions options;
  options.endpoint = get("endpoint").value_or("");
  options.bucket = get("bucket").value_or("");
  options.prefix = get("prefix").value_or("");
  if (auto region = get("region")) options.region = *region;
  else if (auto r = env("AWS_REGION")) options.region = *r;
  else if (auto r2 = env("AWS_DEFAULT_REGION")) options.region = *r2;

  std::string access_key = get("access_key").value_or("");
  std::string secret_key = get("secret_key").value_or("");
  std::string session_token = get("session_token").value_or("");
  if (access_key.empty() && secret_key.empty()) {
    if (auto a = env("AWS_ACCESS_KEY_ID"), b = env("AWS_SECRET_ACCESS_KEY"); a && b) {
      access_key = *a;
      secret_key = *b;
      session_token = env("AWS_SESSION_TOKEN").value_or("");
    } else {
      std::filesystem::path file;
      if (auto f = env("AWS_SHARED_CREDENTIALS_FILE")) file = *f;
      else if (auto home = env("HOME")) file = std::filesystem::path(*home) / ".aws" / "credentials";
      if (!file.empty()) {
        auto profile = read_credentials_profile(file, env("AWS_PROFILE").value_or("default"));
        access_key = profile["aws_access_key_id"];
        secret_key = profile["aws_secret_access_key"];
        session_token = profile["aws_session_token"];
      }
    }
  }
  options.access_key = access_key;
  options.secret_key = SecretBytes(as_bytes(secret_key));
  secure_zero(secret_key.data(), secret_key.size());
  options.session_token = session_token;

  if (auto v = get("path_style")) options.path_style = BLOBSEAL_TRY(parse_bool("path_style", *v));
  if (auto v = get("verify_tls")) options.verify_tls = BLOBSEAL_TRY(parse_bool("verify_tls", *v));
  if (auto v = get("create_bucket")) options.create_bucket = BLOBSEAL_TRY(parse_bool("create_bucket", *v));
  options.ca_file = get("ca_file").value_or("");
  if (auto v = get("connect_timeout_ms"))
    options.connect_timeout = std::chrono::milliseconds(BLOBSEAL_TRY(parse_number("connect_timeout_ms", *v)));
  if (auto v = get("read_timeout_ms"))
    options.read_timeout = std::chrono::milliseconds(BLOBSEAL_TRY(parse_number("read_timeout_ms", *v)));
  if (auto v = get("part_size")) options.part_size = BLOBSEAL_TRY(parse_number("part_size", *v));
  if (auto v = get("replaced_body_grace_seconds"))
    options.replaced_body_grace =
        std::chrono::seconds(BLOBSEAL_TRY(parse_number("replaced_body_grace_seconds", *v)));
  if (auto v = get("max_attempts"))
    options.retry.max_attempts = static_cast<int>(std::min<std::uint64_t>(BLOBSEAL_TRY(parse_number("max_attempts", *v)), 20));
  if (auto v = get("conditional_writes")) {
    if (*v == "auto") options.conditional_writes = S3StoreOptions::ConditionalWrites::kProbe;
    else if (*v == "on") options.conditional_writes = S3StoreOptions::ConditionalWrites::kOn;
    else if (*v == "off") options.conditional_writes = S3StoreOptions::ConditionalWrites::kOff;
    else
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("s3 store: conditional_writes must be auto, on or off, not {:?}", *v));
  }
  return options;
}

}  // namespace blobseal::store
