#include "cli/commands.h"

#include <algorithm>

#include <cstdio>
#include <ctime>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/output_file.h"
#include "cli/progress.h"
#include "cli/upstream_url.h"
#include "cli/session.h"
#include "core/byte_range.h"
#include "core/file_stream.h"
#include "engine/engine.h"
#include "keys/local/local_keyring.h"
#include "keys/registry.h"
#include "seal/envelope.h"
#include "seal/sealed_reader.h"
#include "store/local/local_store.h"
#include "store/registry.h"

namespace blobseal::cli {

namespace {
constexpr std::size_t kIoBatch = seal::kDefaultBatchChunks * seal::kChunkSize;
}  // namespace

int fail(std::string_view command, const Error& error) {
  std::string hint;
  if (error.code() == ErrorCode::kDataLoss) hint = " (nothing unverified was output)";
  std::fprintf(stderr, "blobseal %.*s: %s%s\n", static_cast<int>(command.size()), command.data(),
               error.to_string().c_str(), hint.c_str());
  return 1;
}

namespace {

bool uses_local_keyring(const GlobalOptions& global) { return global.kms.empty() || global.kms == "local"; }

// The key manager the global options name: the local keyring (--keyring, or BLOB_KEY), or an external provider built
// by name from its --kms-setting values.
Result<std::unique_ptr<keys::KeyManager>> open_key_manager(const GlobalOptions& global) {
  keys::KeyManagerRegistry registry;
  keys::register_builtin_key_managers(registry);
  if (!uses_local_keyring(global)) {
    auto config = BLOBSEAL_TRY(keys::parse_key_manager_settings(global.kms_settings));
    auto manager = registry.create(global.kms, config);
    if (!manager) return make_error(manager.error().with_context(fmt::format("key manager {:?}", global.kms)));
    return manager;
  }
  if (!global.kms_settings.empty())
    return make_error(ErrorCode::kInvalidArgument,
                      "--kms-setting applies to an external key manager (--kms); the local keyring takes --keyring");
  keys::KeyManagerConfig config;
  if (!global.keyring.empty()) config["path"] = global.keyring;
  if (global.dual_read_versions) config["dual_read_versions"] = std::to_string(*global.dual_read_versions);
  return registry.create("local", config);
}

Result<std::unique_ptr<store::ObjectStore>> open_store(const std::string& root) {
  if (root.empty())
    return make_error(ErrorCode::kInvalidArgument, "no store directory: give --store DIR or set BLOBSEAL_STORE");
  store::StoreRegistry registry;
  store::register_builtin_stores(registry);
  return registry.create("local", {{"root", root}});
}

// Pumps a ByteSource into a StreamEncryptor in batches.
Status pump(ByteSource& source, seal::StreamEncryptor& encryptor, Progress& progress) {
  std::vector<std::uint8_t> buffer(kIoBatch);
  for (;;) {
    std::size_t n = BLOBSEAL_TRY(read_full(source, buffer));
    if (n > 0) BLOBSEAL_TRY_STATUS(encryptor.write(std::span(buffer.data(), n)));
    progress.add(n);
    if (n < buffer.size()) break;
  }
  secure_zero(buffer.data(), buffer.size());
  return {};
}

seal::Location file_location(const std::string& context) { return seal::Location{"", "file", context}; }

std::string format_time(std::int64_t unix_ns) {
  std::time_t t = static_cast<std::time_t>(unix_ns / 1000000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

// ---- encrypt / decrypt ----------------------------------------------------------------------------------------

int run_encrypt(const GlobalOptions& global, const CryptOptions& options) {
  auto run = [&]() -> Status {
    auto keys = BLOBSEAL_TRY(open_key_manager(global));
    auto input = BLOBSEAL_TRY(open_input(options.input));
    seal::ObjectId object_id = seal::new_object_id();
    auto data_key =
        BLOBSEAL_TRY(keys->generate_data_key(seal::wrap_associated_data(file_location(options.context), object_id)));
    seal::Envelope envelope;
    envelope.object_id = object_id;
    envelope.length_recorded = input.size.has_value();
    envelope.plaintext_size = input.size.value_or(0);
    envelope.key = {data_key.wrapped.provider, data_key.wrapped.key_id, data_key.wrapped.version,
                    data_key.wrapped.ciphertext};
    Bytes header = BLOBSEAL_TRY(seal::encode_envelope(envelope, {}, data_key.plaintext));
    auto output = BLOBSEAL_TRY(OutputFile::open(options.output));
    BLOBSEAL_TRY_STATUS(output->sink().write(header));
    Progress progress("encrypt", input.size, !global.quiet);
    auto encryptor = BLOBSEAL_TRY(seal::begin_stream(data_key.plaintext, object_id, 0, output->sink()));
    BLOBSEAL_TRY_STATUS(pump(*input.source, encryptor, progress));
    BLOBSEAL_TRY_STATUS(encryptor.finish());
    if (input.size && encryptor.plaintext_bytes() != *input.size)
      return make_error(ErrorCode::kFailedPrecondition, "the input changed size while it was being read");
    progress.finish();
    return output->commit();
  };
  auto status = run();
  return status ? 0 : fail("encrypt", status.error());
}

int run_decrypt(const GlobalOptions& global, const CryptOptions& options) {
  auto run = [&]() -> Status {
    auto keys = BLOBSEAL_TRY(open_key_manager(global));
    auto input = BLOBSEAL_TRY(open_input(options.input));
    // The envelope: its first 16 bytes announce its size.
    Bytes header(16);
    std::size_t got = BLOBSEAL_TRY(read_full(*input.source, header));
    header.resize(got);
    std::size_t size = BLOBSEAL_TRY(seal::envelope_size(header));
    header.resize(size);
    got = BLOBSEAL_TRY(read_full(*input.source, std::span(header).subspan(16)));
    if (got != size - 16) return make_error(ErrorCode::kDataLoss, "the sealed file is cut short inside its envelope");
    auto parsed = BLOBSEAL_TRY(seal::parse_envelope(header));
    const seal::Envelope& envelope = parsed.envelope;
    keys::WrappedKey wrapped{envelope.key.provider, envelope.key.key_id, envelope.key.version, envelope.key.wrapped_dek};
    auto dek = keys->unwrap(wrapped, seal::wrap_associated_data(file_location(options.context), envelope.object_id));
    if (!dek) return make_error(dek.error());
    auto contents = BLOBSEAL_TRY(seal::open_envelope(envelope, *dek));
    auto output = BLOBSEAL_TRY(OutputFile::open(options.output));

    if (input.random_access) {
      engine::SubrangeSource body(*input.random_access, size, input.random_access->size() - size);
      auto reader = BLOBSEAL_TRY(seal::SealedReader::open(envelope, contents, *dek, body));
      Progress progress("decrypt", reader.size(), !global.quiet);
      ProgressSink sink(output->sink(), progress);
      BLOBSEAL_TRY_STATUS(reader.read(0, reader.size(), sink));
      progress.finish();
    } else {
      if (envelope.layout != seal::Layout::kSingleStream)
        return make_error(ErrorCode::kUnimplemented, "a multipart sealed object cannot be read from a pipe");
      Progress progress("decrypt", envelope.length_recorded ? std::optional(envelope.plaintext_size) : std::nullopt,
                        !global.quiet);
      ProgressSink sink(output->sink(), progress);
      auto decryptor = BLOBSEAL_TRY(
          seal::StreamDecryptor::create(dek->view(), seal::stream_context(envelope.object_id, 0), sink));
      std::vector<std::uint8_t> buffer(kIoBatch);
      for (;;) {
        std::size_t n = BLOBSEAL_TRY(read_full(*input.source, buffer));
        if (n > 0) BLOBSEAL_TRY_STATUS(decryptor.update(std::span(buffer.data(), n)));
        if (n < buffer.size()) break;
      }
      BLOBSEAL_TRY_STATUS(decryptor.finish());
      if (envelope.length_recorded && decryptor.plaintext_bytes() != envelope.plaintext_size)
        return make_error(ErrorCode::kDataLoss, "the sealed stream's length differs from the envelope's");
      progress.finish();
    }
    return output->commit();
  };
  auto status = run();
  return status ? 0 : fail("decrypt", status.error());
}

// ---- keys -----------------------------------------------------------------------------------------------------

namespace {
// The key manager whose keys the `keys` commands show and change: the keyring file, or the --kms provider.
Result<std::unique_ptr<keys::KeyManager>> open_keys(const GlobalOptions& global) {
  if (uses_local_keyring(global) && global.keyring.empty())
    return make_error(ErrorCode::kInvalidArgument,
                      "no keyring: give --keyring FILE (or set BLOBSEAL_KEYRING), or an external key manager with --kms");
  return open_key_manager(global);
}

struct Administered {
  std::unique_ptr<keys::KeyManager> manager;
  keys::KeyAdministration* admin = nullptr;
};

Result<Administered> open_administration(const GlobalOptions& global) {
  Administered out;
  out.manager = BLOBSEAL_TRY(open_keys(global));
  out.admin = out.manager->administration();
  if (out.admin == nullptr)
    return make_error(ErrorCode::kFailedPrecondition,
                      fmt::format("key manager \"{}\" keeps its keys' life cycle in the provider itself: rotate, "
                                  "retire and destroy there (docs/KMS.md), then run blobseal rewrap",
                                  out.manager->id()));
  return out;
}

std::string key_label(const std::string& key_name) { return key_name.empty() ? "(default)" : key_name; }
}  // namespace

int run_keys_init(const GlobalOptions& global, const std::string& key_name) {
  auto run = [&]() -> Status {
    if (global.keyring.empty())
      return make_error(ErrorCode::kInvalidArgument, "give the keyring file to create with --keyring FILE");
    keys::LocalKeyringOptions options;
    options.initial_key = key_name;
    BLOBSEAL_TRY(keys::LocalKeyring::create(global.keyring, options));
    if (!global.quiet)
      std::fprintf(stderr, "created keyring %s (mode 0600) with key \"%s\" version 1\n", global.keyring.c_str(),
                   key_name.c_str());
    return {};
  };
  auto status = run();
  return status ? 0 : fail("keys init", status.error());
}

int run_keys_list(const GlobalOptions& global, bool json) {
  auto run = [&]() -> Status {
    auto manager = BLOBSEAL_TRY(open_keys(global));
    auto keys = BLOBSEAL_TRY(manager->describe());
    if (json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& key : keys) {
        nlohmann::json versions = nlohmann::json::array();
        for (const auto& v : key.versions) {
          nlohmann::json entry{{"version", v.version}, {"state", keys::to_string(v.state)}, {"created", v.created_unix}};
          if (v.retired_unix) entry["retired"] = *v.retired_unix;
          versions.push_back(entry);
        }
        out.push_back({{"key", key.key_id}, {"default", key.is_default}, {"versions", versions}});
      }
      std::printf("%s\n", out.dump(2).c_str());
      return {};
    }
    for (const auto& key : keys) {
      std::printf("%s%s\n", key.key_id.c_str(), key.is_default ? " (default)" : "");
      for (const auto& v : key.versions)
        std::printf("  version %-4u %-8.*s created %s\n", v.version, static_cast<int>(keys::to_string(v.state).size()),
                    keys::to_string(v.state).data(), format_time(v.created_unix * 1000000000).c_str());
    }
    return {};
  };
  auto status = run();
  return status ? 0 : fail("keys list", status.error());
}

int run_keys_rotate(const GlobalOptions& global, const std::string& key_name) {
  auto run = [&]() -> Status {
    auto keys = BLOBSEAL_TRY(open_administration(global));
    std::uint32_t version = BLOBSEAL_TRY(keys.admin->rotate(key_name));
    std::printf("%u\n", version);
    if (!global.quiet)
      std::fprintf(stderr, "key %s is now at version %u; new objects use it\n", key_label(key_name).c_str(), version);
    return {};
  };
  auto status = run();
  return status ? 0 : fail("keys rotate", status.error());
}

int run_keys_retire(const GlobalOptions& global, const std::string& key_name, std::uint32_t version) {
  auto run = [&]() -> Status {
    auto keys = BLOBSEAL_TRY(open_administration(global));
    BLOBSEAL_TRY_STATUS(keys.admin->retire(key_name, version));
    if (!global.quiet)
      std::fprintf(stderr, "key %s version %u retired: data keys wrapped under it no longer open\n",
                   key_label(key_name).c_str(), version);
    return {};
  };
  auto status = run();
  return status ? 0 : fail("keys retire", status.error());
}

int run_keys_destroy(const GlobalOptions& global, const std::string& key_name, std::uint32_t version) {
  auto run = [&]() -> Status {
    auto keys = BLOBSEAL_TRY(open_administration(global));
    BLOBSEAL_TRY_STATUS(keys.admin->destroy(key_name, version));
    if (!global.quiet)
      std::fprintf(stderr, "key %s version %u destroyed: data keys wrapped under it are gone for good\n",
                   key_label(key_name).c_str(), version);
    return {};
  };
  auto status = run();
  return status ? 0 : fail("keys destroy", status.error());
}

// ---- store commands -------------------------------------------------------------------------------------------

// The store a gateway keeps in an upstream bucket (the single-bucket layout of `serve --upstream URL`).
Result<std::unique_ptr<store::ObjectStore>> open_upstream_store(const GlobalOptions& global) {
  auto url = BLOBSEAL_TRY(parse_upstream_url(global.upstream));
  store::StoreConfig config{{"endpoint", url.endpoint}, {"bucket", url.bucket}, {"prefix", url.prefix}};
  if (!global.upstream_ca_file.empty()) config["ca_file"] = global.upstream_ca_file;
  store::StoreRegistry registry;
  store::register_builtin_stores(registry);
  auto opened = registry.create("s3", config);
  if (!opened) return make_error(opened.error().with_context(fmt::format("upstream {}", url.endpoint)));
  return opened;
}

Result<Session> open_session(const GlobalOptions& global, const std::string& root) {
  Session s;
  s.store = BLOBSEAL_TRY(global.upstream.empty() ? open_store(root) : open_upstream_store(global));
  s.keys = BLOBSEAL_TRY(open_key_manager(global));
  s.engine = std::make_unique<engine::Engine>(*s.store, *s.keys);
  return s;
}

namespace {
seal::Location object_location(const std::string& key) { return seal::Location{"", "", key}; }
}  // namespace

int run_put(const GlobalOptions& global, const PutCommand& command) {
  auto run = [&]() -> Status {
    auto session = BLOBSEAL_TRY(open_session(global, global.store));
    engine::PutOptions options;
    if (!command.content_type.empty()) options.metadata.emplace_back("content-type", command.content_type);
    for (const auto& pair : command.meta) {
      auto eq = pair.find('=');
      if (eq == std::string::npos || eq == 0)
        return make_error(ErrorCode::kInvalidArgument, fmt::format("--meta expects NAME=VALUE, got \"{}\"", pair));
      std::string name = pair.substr(0, eq);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      options.metadata.emplace_back("x-amz-meta-" + name, pair.substr(eq + 1));
    }
    auto input = BLOBSEAL_TRY(open_input(command.file));
    Progress progress("put", input.size, !global.quiet);
    ProgressSource source(*input.source, progress);
    auto summary = BLOBSEAL_TRY(session.engine->put(object_location(command.key), source, options));
    progress.finish();
    if (!global.quiet)
      std::fprintf(stderr, "stored %s (%s, etag %s)\n", command.key.c_str(), human_bytes(summary.size).c_str(),
                   summary.etag().value_or("").c_str());
    return {};
  };
  auto status = run();
  return status ? 0 : fail("put", status.error());
}

int run_get(const GlobalOptions& global, const GetCommand& command) {
  auto run = [&]() -> Status {
    auto session = BLOBSEAL_TRY(open_session(global, global.store));
    auto object = BLOBSEAL_TRY(session.engine->open(object_location(command.key)));
    ResolvedRange range{0, object.size()};
    if (!command.range.empty()) {
      auto parsed = BLOBSEAL_TRY(parse_byte_range(command.range));
      range = BLOBSEAL_TRY(resolve(parsed, object.size()));
    }
    auto output = BLOBSEAL_TRY(OutputFile::open(command.output));
    Progress progress("get", range.length, !global.quiet);
    ProgressSink sink(output->sink(), progress);
    BLOBSEAL_TRY_STATUS(object.read(range.offset, range.length, sink));
    progress.finish();
    return output->commit();
  };
  auto status = run();
  return status ? 0 : fail("get", status.error());
}

int run_head(const GlobalOptions& global, const std::string& key, bool json) {
  auto run = [&]() -> Status {
    auto session = BLOBSEAL_TRY(open_session(global, global.store));
    auto summary = BLOBSEAL_TRY(session.engine->head(object_location(key)));
    if (json) {
      nlohmann::json metadata = nlohmann::json::object();
      for (const auto& [n, v] : summary.metadata) metadata[n] = v;
      nlohmann::json out{{"key", summary.key},
                         {"size", summary.size},
                         {"modified", format_time(summary.modified_unix_ns)},
                         {"metadata", metadata},
                         {"key_manager", summary.key_reference.provider},
                         {"key_id", summary.key_reference.key_id},
                         {"key_version", summary.key_reference.version}};
      std::printf("%s\n", out.dump(2).c_str());
      return {};
    }
    std::printf("key:          %s\nsize:         %llu\nmodified:     %s\n", summary.key.c_str(),
                static_cast<unsigned long long>(summary.size), format_time(summary.modified_unix_ns).c_str());
    std::printf("sealed under: %s key \"%s\" version %u\n", summary.key_reference.provider.c_str(),
                summary.key_reference.key_id.c_str(), summary.key_reference.version);
    for (const auto& [n, v] : summary.metadata) std::printf("%-13s %s\n", (n + ":").c_str(), v.c_str());
    return {};
  };
  auto status = run();
  return status ? 0 : fail("head", status.error());
}

int run_ls(const GlobalOptions& global, const ListCommand& command) {
  auto run = [&]() -> Status {
    auto session = BLOBSEAL_TRY(open_session(global, global.store));
    store::ListRequest request;
    request.prefix = command.prefix;
    request.delimiter = command.delimiter;
    std::size_t printed = 0;
    bool first = true;
    if (command.json) std::printf("[");
    for (;;) {
      request.max_keys = 1000;
      if (command.max_keys > 0) request.max_keys = std::min<std::size_t>(1000, command.max_keys - printed);
      auto page = BLOBSEAL_TRY(session.engine->list(seal::Location{}, request));
      // Objects and prefixes come back in one key order; print them merged.
      std::size_t i = 0, j = 0;
      while (i < page.objects.size() || j < page.common_prefixes.size()) {
        bool take_prefix = i == page.objects.size() ||
                           (j < page.common_prefixes.size() && page.common_prefixes[j] < page.objects[i].key);
        if (command.json) {
          nlohmann::json entry = take_prefix ? nlohmann::json{{"prefix", page.common_prefixes[j]}}
                                             : nlohmann::json{{"key", page.objects[i].key},
                                                              {"size", page.objects[i].size},
                                                              {"modified", format_time(page.objects[i].modified_unix_ns)}};
          std::printf("%s\n  %s", first ? "" : ",", entry.dump().c_str());
        } else if (take_prefix) {
          std::printf("%20s %14s %s\n", "", "PRE", page.common_prefixes[j].c_str());
        } else {
          std::printf("%20s %14llu %s\n", format_time(page.objects[i].modified_unix_ns).c_str(),
                      static_cast<unsigned long long>(page.objects[i].size), page.objects[i].key.c_str());
        }
        first = false;
        ++printed;
        take_prefix ? ++j : ++i;
      }
      if (!page.truncated || (command.max_keys > 0 && printed >= command.max_keys)) break;
      request.start_after = page.next_start_after;
    }
    if (command.json) std::printf("\n]\n");
    return {};
  };
  auto status = run();
  return status ? 0 : fail("ls", status.error());
}

int run_rm(const GlobalOptions& global, const std::vector<std::string>& keys) {
  auto session = open_session(global, global.store);
  if (!session) return fail("rm", session.error());
  int rc = 0;
  for (const auto& key : keys) {
    auto status = session->engine->remove(object_location(key));
    if (!status) rc = fail("rm", status.error().with_context(key));
  }
  return rc;
}

int run_verify(const GlobalOptions& global, const VerifyCommand& command) {
  std::string root = command.directory.empty() ? global.store : command.directory;
  auto session = open_session(global, root);
  if (!session) return fail("verify", session.error());
  Progress progress("verify", std::nullopt, !global.quiet && !command.json);
  std::uint64_t last_bytes = 0;
  auto report = session->engine->verify_all("", [&](std::uint64_t objects, std::uint64_t bytes) {
    progress.add(bytes - last_bytes);
    last_bytes = bytes;
    progress.set_items(objects);
  });
  progress.finish();
  if (!report) return fail("verify", report.error());

  std::size_t orphans = 0;
  std::size_t removed = 0;
  if (auto* local = dynamic_cast<store::LocalStore*>(session->store.get())) {
    if (auto found = local->orphan_data_files()) orphans = found->size();
    if (command.gc && orphans > 0) {
      if (auto status = local->remove_orphans(std::chrono::seconds(0)); status) removed = orphans;
      else return fail("verify --gc", status.error());
    }
  }
  if (command.json) {
    nlohmann::json corrupt = nlohmann::json::array();
    for (const auto& issue : report->issues) {
      nlohmann::json entry{{"key", issue.key}, {"error", issue.error.to_string()}};
      if (!issue.bucket.empty()) entry["bucket"] = issue.bucket;
      corrupt.push_back(entry);
    }
    nlohmann::json out{{"objects_checked", report->objects_checked},
                       {"bytes_checked", report->bytes_checked},
                       {"corrupt", corrupt},
                       {"orphan_data_files", orphans},
                       {"orphans_removed", removed},
                       {"ok", report->issues.empty()}};
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    for (const auto& issue : report->issues)
      std::printf("CORRUPT %s%s%s: %s\n", issue.bucket.c_str(), issue.bucket.empty() ? "" : "/", issue.key.c_str(),
                  issue.error.to_string().c_str());
    std::printf("checked %llu objects (%s): %zu corrupt", static_cast<unsigned long long>(report->objects_checked),
                human_bytes(report->bytes_checked).c_str(), report->issues.size());
    if (orphans > 0) std::printf(", %zu unreferenced data files%s", orphans, command.gc ? " removed" : " (--gc removes them)");
    std::printf("\n");
  }
  return report->issues.empty() ? 0 : 1;
}

}  // namespace blobseal::cli
