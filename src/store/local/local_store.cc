#include "store/local/local_store.h"

#include <cstring>

#include <sys/stat.h>

#include <cerrno>

#include <fmt/format.h>

#include "core/file_stream.h"
#include "store/local/data_directory.h"
#include "store/local/key_listing.h"
#include "store/local/object_index.h"
#include "store/local/open_data_files.h"
#include "store/local/random_id.h"

namespace blobseal::store {

using local::DataFileEntry;
using local::IndexEntry;
using local::PendingDataFile;

namespace {

constexpr std::size_t kMaxHeaderBytes = 16 << 20;
constexpr std::size_t kMaxMetadataEntries = 1024;
constexpr std::size_t kMaxMetadataFieldBytes = 64 << 10;
// How often open() and copy() look a key up again when its body was replaced between reading the row and
// opening (or linking) the file.
constexpr int kLookupAttempts = 8;

class LocalStoredObject final : public StoredObject {
 public:
  LocalStoredObject(ObjectInfo info, std::unique_ptr<RandomAccessSource> body)
      : info_(std::move(info)), body_(std::move(body)) {}
  const ObjectInfo& info() const override { return info_; }
  RandomAccessSource& body() override { return *body_; }

 private:
  ObjectInfo info_;
  std::unique_ptr<RandomAccessSource> body_;
};

// A body read whole at open: a small object then costs one read instead of one per stream header and batch.
constexpr std::uint64_t kReadWholeBelow = 128 * 1024;

class WholeBody final : public RandomAccessSource {
 public:
  explicit WholeBody(Bytes bytes) : bytes_(std::move(bytes)) {}
  std::uint64_t size() const override { return bytes_.size(); }
  Result<std::size_t> read_at(std::uint64_t offset, std::span<std::uint8_t> out) override {
    if (offset >= bytes_.size()) return std::size_t{0};
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), bytes_.size() - offset));
    std::memcpy(out.data(), bytes_.data() + offset, n);
    return n;
  }

 private:
  Bytes bytes_;
};

Result<std::unique_ptr<RandomAccessSource>> read_whole(FileSource& file) {
  Bytes bytes(static_cast<std::size_t>(file.size()));
  std::size_t got = BLOBSEAL_TRY(read_full_at(file, 0, bytes));
  bytes.resize(got);  // a shorter file fails the reader's length checks, as it would have read by read
  return std::unique_ptr<RandomAccessSource>(std::make_unique<WholeBody>(std::move(bytes)));
}

Status check_header(const Bytes& header) {
  if (header.size() > kMaxHeaderBytes)
    return make_error(ErrorCode::kResourceExhausted,
                      fmt::format("object header of {} bytes exceeds the limit of {}", header.size(), kMaxHeaderBytes));
  return {};
}

Status check_metadata(const std::map<std::string, std::string>& metadata) {
  if (metadata.size() > kMaxMetadataEntries)
    return make_error(ErrorCode::kResourceExhausted, fmt::format("{} metadata entries exceed the limit of {}",
                                                                 metadata.size(), kMaxMetadataEntries));
  for (const auto& [name, value] : metadata)
    if (name.size() > kMaxMetadataFieldBytes || value.size() > kMaxMetadataFieldBytes)
      return make_error(ErrorCode::kResourceExhausted,
                        fmt::format("a metadata name or value exceeds the limit of {} bytes", kMaxMetadataFieldBytes));
  return {};
}

std::int64_t now_unix_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Whether a failed index write may nevertheless have committed: an I/O error while writing or syncing the log
// can leave a complete commit record behind. Conditions, lock timeouts and a full disk fail before anything commits.
bool commit_outcome_unknown(const Error& error) {
  return error.code() == ErrorCode::kInternal || error.code() == ErrorCode::kDataLoss;
}

// Creates `root` and any missing parents with mode 0700.
Status make_root(const std::filesystem::path& root) {
  std::filesystem::path partial;
  for (const auto& component : root) {
    partial /= component;
    if (::mkdir(partial.c_str(), 0700) == 0 || errno == EEXIST) continue;
    return make_error(errno_error("mkdir", partial.string()));
  }
  struct stat st {};
  if (::stat(root.c_str(), &st) != 0) return make_error(errno_error("stat", root.string()));
  if (!S_ISDIR(st.st_mode))
    return make_error(ErrorCode::kFailedPrecondition, fmt::format("store root {} is not a directory", root.string()));
  return {};
}

std::string relative_path(const DataFileEntry& entry) {
  return entry.temporary ? fmt::format("tmp/{}", entry.id) : fmt::format("data/{}/{}", entry.id.substr(0, 2), entry.id);
}

}  // namespace

LocalStore::LocalStore(std::filesystem::path root, std::unique_ptr<local::ObjectIndex> index,
                       std::unique_ptr<local::DataDirectory> data)
    : root_(std::move(root)),
      index_(std::move(index)),
      data_(std::move(data)),
      open_files_(std::make_unique<local::OpenDataFiles>()) {}

LocalStore::~LocalStore() = default;

Result<std::unique_ptr<LocalStore>> LocalStore::open_directory(const std::filesystem::path& root) {
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(root, ec).lexically_normal();
  if (ec || root.empty())
    return make_error(ErrorCode::kInvalidArgument, fmt::format("store root {:?} is not a usable path", root.string()));
  BLOBSEAL_TRY_STATUS(make_root(absolute));
  auto data = BLOBSEAL_TRY(local::DataDirectory::open(absolute));
  auto index = BLOBSEAL_TRY(local::ObjectIndex::open((absolute / "index.sqlite").string()));
  std::unique_ptr<LocalStore> store(new LocalStore(absolute, std::move(index),
                                                   std::make_unique<local::DataDirectory>(std::move(data))));

  // Best effort: a temporary file that cannot be removed now is found again by the next open or remove_orphans().
  auto stale_before = std::chrono::system_clock::now() - kStaleTemporaryAge;
  std::vector<DataFileEntry> stale;
  (void)store->data_->scan([&](const DataFileEntry& entry) -> Status {
    if (entry.temporary && entry.modified < stale_before) stale.push_back(entry);
    return {};
  });
  for (const DataFileEntry& entry : stale) (void)store->data_->remove_unheld(entry, [] { return Result<bool>(true); });
  return store;
}

Result<ObjectInfo> LocalStore::put(std::string_view key, ByteSource& body, const PutOptions& options) {
  BLOBSEAL_TRY_STATUS(validate_key(key));
  BLOBSEAL_TRY_STATUS(check_header(options.header));
  BLOBSEAL_TRY_STATUS(check_metadata(options.metadata));
  if (options.if_generation_match) {
    // Decided again when committing; checked here so that a doomed upload is refused before it is streamed.
    auto current = BLOBSEAL_TRY(index_->find(key));
    std::string generation = current ? current->info.generation : std::string();
    if (generation != *options.if_generation_match)
      return make_error(ErrorCode::kFailedPrecondition,
                        options.if_generation_match->empty()
                            ? fmt::format("object {:?} already exists", key)
                            : fmt::format("object {:?} is no longer generation {}", key, *options.if_generation_match));
  }

  PendingDataFile pending = BLOBSEAL_TRY(data_->write(body));
  BLOBSEAL_TRY_STATUS(pending.publish());
  IndexEntry entry;
  entry.info.header = options.finalize_header ? BLOBSEAL_TRY(options.finalize_header()) : options.header;
  BLOBSEAL_TRY_STATUS(check_header(entry.info.header));

  entry.data_file = pending.id();
  entry.info.key = std::string(key);
  entry.info.body_size = pending.size();
  entry.info.modified_unix_ns = now_unix_ns();
  entry.info.generation = local::random_hex_id();
  entry.info.metadata = options.finalize_metadata ? BLOBSEAL_TRY(options.finalize_metadata()) : options.metadata;
  auto replaced = index_->upsert(entry, options.if_generation_match);
  if (!replaced) {
    if (commit_outcome_unknown(replaced.error())) pending.keep();
    return make_error(replaced.error());
  }
  pending.keep();
  if (replaced->data_file) forget_and_remove(*replaced->data_file);
  return std::move(entry.info);
}

Result<std::unique_ptr<StoredObject>> LocalStore::open(std::string_view key) {
  BLOBSEAL_TRY_STATUS(validate_key(key));
  std::optional<std::string> missing_file;
  for (int attempt = 0; attempt < kLookupAttempts; ++attempt) {
    auto entry = BLOBSEAL_TRY(index_->find(key));
    if (!entry) return make_error(ErrorCode::kNotFound, fmt::format("no object {:?}", key));
    bool small = entry->info.body_size <= kReadWholeBelow;
    if (small) {
      if (std::shared_ptr<FileSource> kept = open_files_->find(entry->data_file)) {
        auto source = BLOBSEAL_TRY(read_whole(*kept));
        return std::unique_ptr<StoredObject>(new LocalStoredObject(std::move(entry->info), std::move(source)));
      }
    }
    auto body = data_->open_for_reading(entry->data_file);
    if (body) {
      if ((*body)->size() != entry->info.body_size)
        return make_error(ErrorCode::kDataLoss,
                          fmt::format("the data file of {:?} holds {} bytes; the index records {}", key,
                                      (*body)->size(), entry->info.body_size));
      if (!small)
        return std::unique_ptr<StoredObject>(new LocalStoredObject(std::move(entry->info), std::move(*body)));
      std::shared_ptr<FileSource> file(std::move(*body));
      auto source = BLOBSEAL_TRY(read_whole(*file));
      open_files_->keep(entry->data_file, std::move(file));
      return std::unique_ptr<StoredObject>(new LocalStoredObject(std::move(entry->info), std::move(source)));
    }
    if (body.error().code() != ErrorCode::kNotFound) return make_error(body.error());
    // A row's file is unlinked only after the row stops naming it. The same row naming a missing file twice means
    // the file is really gone, not replaced in between.
    if (missing_file == entry->data_file)
      return make_error(ErrorCode::kDataLoss, fmt::format("the data file of {:?} is missing", key));
    missing_file = entry->data_file;
  }
  return make_error(ErrorCode::kUnavailable, fmt::format("object {:?} kept changing while being opened", key));
}

Result<ObjectInfo> LocalStore::head(std::string_view key) {
  BLOBSEAL_TRY_STATUS(validate_key(key));
  auto entry = BLOBSEAL_TRY(index_->find(key));
  if (!entry) return make_error(ErrorCode::kNotFound, fmt::format("no object {:?}", key));
  return std::move(entry->info);
}

Result<ObjectInfo> LocalStore::replace_header(std::string_view key, std::string_view expected_generation,
                                              const Bytes& header,
                                              const std::map<std::string, std::string>& metadata) {
  BLOBSEAL_TRY_STATUS(validate_key(key));
  BLOBSEAL_TRY_STATUS(check_header(header));
  BLOBSEAL_TRY_STATUS(check_metadata(metadata));
  return index_->replace_header(key, expected_generation, local::random_hex_id(), header, metadata);
}

Result<ObjectInfo> LocalStore::copy(std::string_view source, std::string_view destination,
                                    const PutOptions& options) {
  BLOBSEAL_TRY_STATUS(validate_key(source));
  BLOBSEAL_TRY_STATUS(validate_key(destination));
  BLOBSEAL_TRY_STATUS(check_header(options.header));
  BLOBSEAL_TRY_STATUS(check_metadata(options.metadata));
  for (int attempt = 0; attempt < kLookupAttempts; ++attempt) {
    auto from = BLOBSEAL_TRY(index_->find(source));
    if (!from) return make_error(ErrorCode::kNotFound, fmt::format("no object {:?}", source));
    auto linked = data_->link(from->data_file);
    if (!linked) {
      if (linked.error().code() == ErrorCode::kNotFound) continue;  // the source changed meanwhile: look again
      return make_error(linked.error());
    }
    PendingDataFile pending = std::move(*linked);
    if (pending.size() != from->info.body_size)
      return make_error(ErrorCode::kDataLoss, fmt::format("the data file of {:?} holds {} bytes; the index records {}",
                                                          source, pending.size(), from->info.body_size));
    IndexEntry entry;
    entry.info.header = options.finalize_header ? BLOBSEAL_TRY(options.finalize_header()) : options.header;
    BLOBSEAL_TRY_STATUS(check_header(entry.info.header));
    entry.data_file = pending.id();
    entry.info.key = std::string(destination);
    entry.info.body_size = pending.size();
    entry.info.modified_unix_ns = now_unix_ns();
    entry.info.generation = local::random_hex_id();
    entry.info.metadata = options.finalize_metadata ? BLOBSEAL_TRY(options.finalize_metadata()) : options.metadata;
    auto replaced = index_->upsert(entry, options.if_generation_match);
    if (!replaced) {
      if (commit_outcome_unknown(replaced.error())) pending.keep();
      return make_error(replaced.error());
    }
    pending.keep();
    if (replaced->data_file) forget_and_remove(*replaced->data_file);
    return std::move(entry.info);
  }
  return make_error(ErrorCode::kUnavailable, fmt::format("object {:?} kept changing while being copied", source));
}

Status LocalStore::remove(std::string_view key) {
  BLOBSEAL_TRY_STATUS(validate_key(key));
  std::string data_file = BLOBSEAL_TRY(index_->erase(key));
  forget_and_remove(data_file);
  return {};
}

void LocalStore::forget_and_remove(const std::string& data_file) {
  open_files_->forget(data_file);
  data_->remove(data_file);
}

Result<ListResult> LocalStore::list(const ListRequest& request) {
  return local::list_keys(request,
                          [this](const local::KeyRange& range, std::size_t limit, const local::RowVisitor& visit) {
                            return index_->scan(range, limit, visit);
                          });
}

Result<std::vector<std::string>> LocalStore::orphan_data_files() {
  std::vector<std::string> orphans;
  BLOBSEAL_TRY_STATUS(data_->scan([&](const DataFileEntry& entry) -> Status {
    if (!entry.temporary && BLOBSEAL_TRY(index_->references(entry.id))) return {};
    if (BLOBSEAL_TRY(data_->is_held(entry))) return {};
    orphans.push_back(relative_path(entry));
    return {};
  }));
  return orphans;
}

Status LocalStore::remove_orphans(std::chrono::seconds min_age) {
  auto modified_before = std::chrono::system_clock::now() - min_age;
  std::vector<DataFileEntry> candidates;
  BLOBSEAL_TRY_STATUS(data_->scan([&](const DataFileEntry& entry) -> Status {
    if (entry.modified > modified_before) return {};
    if (!entry.temporary && BLOBSEAL_TRY(index_->references(entry.id))) return {};
    candidates.push_back(entry);
    return {};
  }));
  for (const DataFileEntry& entry : candidates) {
    bool removed = BLOBSEAL_TRY(data_->remove_unheld(entry, [&]() -> Result<bool> {
      if (entry.temporary) return true;
      return !BLOBSEAL_TRY(index_->references(entry.id));
    }));
    if (removed) open_files_->forget(entry.id);
  }
  return {};
}

Status LocalStore::index_empty_objects_for_testing(std::span<const std::string> keys) {
  std::vector<IndexEntry> entries;
  entries.reserve(keys.size());
  std::int64_t now = now_unix_ns();
  for (const std::string& key : keys) {
    BLOBSEAL_TRY_STATUS(validate_key(key));
    IndexEntry entry;
    entry.info.key = key;
    entry.info.modified_unix_ns = now;
    entry.info.generation = local::random_hex_id();
    entry.data_file = local::random_hex_id();
    entries.push_back(std::move(entry));
  }
  return index_->insert_for_testing(entries);
}

}  // namespace blobseal::store
