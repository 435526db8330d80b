#include "cli/serve.h"

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <condition_variable>
#include <memory>
#include <optional>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "admin/admin_handler.h"
#include "crypto/primitives.h"
#include "engine/engine.h"
#include "http/server.h"
#include "keys/caching_key_manager.h"
#include "keys/local/local_keyring.h"
#include "keys/registry.h"
#include "obs/audit.h"
#include "obs/instrumented_key_manager.h"
#include "obs/json_lines_file_sink.h"
#include "obs/metrics.h"
#include "s3/credentials.h"
#include "s3/s3_handler.h"
#include "store/registry.h"
#include "store/s3/bucket_mapped_store.h"
#include "store/s3/s3_store.h"

namespace blobseal::cli {

namespace {

constexpr const char* kServerVersion = "0.1.0";

int fail(const std::string& what) {
  std::fprintf(stderr, "blobseal serve: %s\n", what.c_str());
  return 1;
}

// Sends /health, /ready and /metrics to the admin handler and everything else to the S3 front end.
class Router final : public http::Handler {
 public:
  Router(http::Handler& admin, http::Handler& s3) : admin_(admin), s3_(s3) {}
  void handle(http::Request& request, http::ResponseWriter& response) override {
    if (admin::AdminHandler::serves(request.path())) return admin_.handle(request, response);
    s3_.handle(request, response);
  }
  // /metrics and /ready are never inline (they gather, or probe the store and key manager).
  bool respond_inline(http::Request& request, http::ResponseWriter& response) override {
    return !admin::AdminHandler::serves(request.path()) && s3_.respond_inline(request, response);
  }

 private:
  http::Handler& admin_;
  http::Handler& s3_;
};

Result<std::unique_ptr<keys::KeyManager>> open_or_create_keyring(const ServeOptions& options,
                                                                 const std::string& path) {
  keys::LocalKeyringOptions keyring_options;
  if (options.dual_read_versions > 0) keyring_options.dual_read_versions = options.dual_read_versions;
  if (!std::filesystem::exists(path)) {
    auto created = keys::LocalKeyring::create(path, keyring_options);
    if (!created) return tl::unexpected(created.error());
    if (!options.quiet) std::fprintf(stderr, "blobseal: created keyring %s (mode 0600)\n", path.c_str());
    return std::unique_ptr<keys::KeyManager>(std::move(*created));
  }
  auto opened = keys::LocalKeyring::open(path, keyring_options);
  if (!opened) return tl::unexpected(opened.error());
  return std::unique_ptr<keys::KeyManager>(std::move(*opened));
}

// The configured key manager: the local keyring (created on first start), or an external provider built by name
// from its NAME=VALUE settings.
Result<std::unique_ptr<keys::KeyManager>> open_key_manager(const ServeOptions& options, const std::string& path) {
  if (options.kms.empty() || options.kms == "local") {
    if (!options.kms_settings.empty())
      return make_error(ErrorCode::kInvalidArgument,
                        "--kms-setting applies to an external key manager; the local keyring takes --keyring");
    return open_or_create_keyring(options, path);
  }
  auto config = BLOBSEAL_TRY(keys::parse_key_manager_settings(options.kms_settings));
  keys::KeyManagerRegistry registry;
  keys::register_builtin_key_managers(registry);
  auto manager = registry.create(options.kms, config);
  if (!manager) return make_error(manager.error().with_context(fmt::format("key manager {:?}", options.kms)));
  return manager;
}

// Gateway mode's store: the s3 store's settings from the serve options (credentials from the AWS environment).
// `bucket_override`: open this upstream bucket instead of the URL's (bucket mapping), creating it when missing.
Result<std::unique_ptr<store::S3Store>> open_upstream(const ServeOptions& options, obs::Metrics& metrics,
                                                      const std::string& bucket_override = "") {
  auto url = BLOBSEAL_TRY(parse_upstream_url(options.upstream));
  if (!bucket_override.empty()) url.bucket = bucket_override;
  store::StoreConfig config{{"endpoint", url.endpoint},
                            {"bucket", url.bucket},
                            {"prefix", url.prefix},
                            {"path_style", options.upstream_virtual_hosted ? "false" : "true"},
                            {"verify_tls", options.upstream_insecure ? "false" : "true"},
                            {"create_bucket", options.upstream_create_bucket || !bucket_override.empty() ? "true" : "false"},
                            {"part_size", std::to_string(options.upstream_part_size)},
                            {"max_attempts", std::to_string(options.upstream_max_attempts)},
                            {"conditional_writes", options.upstream_conditional_writes},
                            {"connect_timeout_ms", std::to_string(options.upstream_connect_timeout_ms)},
                            {"read_timeout_ms", std::to_string(options.upstream_read_timeout_ms)}};
  if (!options.upstream_region.empty()) config["region"] = options.upstream_region;
  if (!options.upstream_ca_file.empty()) config["ca_file"] = options.upstream_ca_file;
  if (!options.upstream_access_key.empty() || !options.upstream_secret_key.empty()) {
    if (options.upstream_access_key.empty() || options.upstream_secret_key.empty())
      return make_error(ErrorCode::kInvalidArgument,
                        "--upstream-access-key and --upstream-secret-key go together (or use AWS_ACCESS_KEY_ID and "
                        "AWS_SECRET_ACCESS_KEY)");
    config["access_key"] = options.upstream_access_key;
    config["secret_key"] = options.upstream_secret_key;
  }
  auto settings = BLOBSEAL_TRY(store::s3_store_options(config));
  settings.on_retry = [&metrics](const net::RetryEvent& event) { metrics.record_upstream_retry(event.status); };
  return store::S3Store::open_bucket(std::move(settings));
}

// Removes, every `period`, the upstream bodies that no record names and that are older than a day (left by
// interrupted uploads, or by racing writers on upstreams without conditional writes). Stops with the server.
class OrphanSweeper {
 public:
  using Sweep = std::function<Result<std::size_t>(std::chrono::seconds min_age)>;
  OrphanSweeper(Sweep sweep, std::chrono::minutes period) : sweep_(std::move(sweep)), period_(period) {
    if (period_.count() > 0) thread_ = std::thread([this] { run(); });
  }
  ~OrphanSweeper() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, period_, [this] { return stopping_; })) {
      lock.unlock();
      auto removed = sweep_(std::chrono::hours(24));
      if (!removed)
        std::fprintf(stderr, "blobseal: orphan sweep failed: %s\n", removed.error().to_string().c_str());
      else if (*removed > 0)
        std::fprintf(stderr, "blobseal: orphan sweep removed %zu unreferenced upstream bodies\n", *removed);
      lock.lock();
    }
  }

  Sweep sweep_;
  std::chrono::minutes period_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace

int run_serve(const ServeOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(options.data, ec);
  if (ec) return fail(fmt::format("cannot create the data directory {}: {}", options.data, ec.message()));
  ::chmod(options.data.c_str(), 0700);

  const std::string keyring_path = options.keyring.empty() ? options.data + "/keyring.json" : options.keyring;
  const std::string store_path = options.store.empty() ? options.data + "/store" : options.store;
  const std::string credentials_path =
      options.credentials.empty() ? options.data + "/credentials.toml" : options.credentials;
  const std::string audit_path = options.audit_log.empty() ? options.data + "/audit.log" : options.audit_log;

  obs::Metrics metrics(kServerVersion);
  bool aes = crypto::cpu_has_aes_acceleration();
  metrics.set_aes_hardware_acceleration(aes);
  if (!aes)
    std::fprintf(stderr, "blobseal: warning: this CPU has no AES/PCLMUL instructions; sealing will be much slower\n");

  std::unique_ptr<obs::AuditSink> audit;
  if (audit_path == "off") {
    audit = std::make_unique<obs::NullAuditSink>();
  } else {
    obs::JsonLinesFileSinkOptions sink_options;
    sink_options.metrics = &metrics;
    auto sink = obs::JsonLinesFileSink::open(audit_path == "-" ? "/dev/stdout" : audit_path, sink_options);
    if (!sink) return fail(sink.error().to_string());
    audit = std::move(*sink);
  }

  auto opened_key_manager = open_key_manager(options, keyring_path);
  if (!opened_key_manager) return fail(opened_key_manager.error().to_string());
  // Every key-manager call measured (kms_calls_total, kms_call_duration_seconds) and each failed wrap or unwrap
  // audited, whatever the provider.
  Result<std::unique_ptr<keys::KeyManager>> key_manager = std::unique_ptr<keys::KeyManager>(
      std::make_unique<obs::InstrumentedKeyManager>(std::move(*opened_key_manager), metrics, *audit));
  if (options.kms_cache_entries > 0) {
    // In front of the measured manager: kms_calls_total counts the calls that reach the key manager.
    keys::DataKeyCacheOptions cache;
    cache.max_entries = options.kms_cache_entries;
    cache.ttl = std::chrono::seconds(options.kms_cache_ttl_seconds);
    cache.max_uses = options.kms_cache_max_uses;
    key_manager = std::unique_ptr<keys::KeyManager>(
        std::make_unique<keys::CachingKeyManager>(std::move(*key_manager), std::move(cache)));
  }

  std::unique_ptr<store::ObjectStore> object_store;
  store::S3Store* upstream = nullptr;
  std::string store_description;
  if (!options.upstream.empty()) {
    auto opened = open_upstream(options, metrics);
    if (!opened) return fail(opened.error().to_string());
    upstream = opened->get();
    if (options.upstream_bucket_template.empty()) {
      object_store = std::move(*opened);
    } else {
      // One upstream bucket per blobseal bucket; the URL's bucket keeps the bucket registry.
      if (auto checked = store::BucketMappedStore::upstream_bucket_name(options.upstream_bucket_template, "b");
          !checked)
        return fail(checked.error().to_string());
      auto open_bucket = [&options, &metrics](const std::string& bucket) -> Result<std::unique_ptr<store::S3Store>> {
        auto name = BLOBSEAL_TRY(store::BucketMappedStore::upstream_bucket_name(options.upstream_bucket_template, bucket));
        return open_upstream(options, metrics, name);
      };
      object_store = std::make_unique<store::BucketMappedStore>(std::move(*opened), open_bucket,
                                                                std::string(engine::kBucketRegistryPrefix));
    }
    metrics.set_upstream_up(true);
    store_description = fmt::format("upstream {}{}{}", upstream->options().endpoint,
                                    upstream->options().path_style ? "/" : " bucket ", upstream->options().bucket);
    if (!upstream->options().prefix.empty()) store_description += " prefix " + upstream->options().prefix;
    if (!options.upstream_bucket_template.empty())
      store_description += ", one upstream bucket per bucket: " + options.upstream_bucket_template;
    if (!upstream->conditional_writes())
      std::fprintf(stderr, "blobseal: warning: the upstream does not honour conditional writes; concurrent writers "
                           "of one key on different nodes may race (docs/PROVIDERS.md)\n");
  } else {
    store::StoreRegistry stores;
    store::register_builtin_stores(stores);
    auto created = stores.create("local", {{"root", store_path}});
    if (!created) return fail(created.error().to_string());
    object_store = std::move(*created);
    store_description = "store " + store_path;
  }
  engine::Engine engine(*object_store, **key_manager);

  s3::CredentialStore credentials;
  if (!options.access_key.empty() || !options.secret_key.empty()) {
    if (auto added = credentials.add(options.access_key, options.secret_key, "default"); !added)
      return fail(added.error().to_string());
  } else if (fs::exists(credentials_path)) {
    if (auto loaded = credentials.load_file(credentials_path); !loaded) return fail(loaded.error().to_string());
  } else {
    auto generated = credentials.generate_file(credentials_path);
    if (!generated) return fail(generated.error().to_string());
    // Printed once, on the terminal of whoever started the server; kept 0600 in the data directory.
    std::printf("blobseal: generated credentials (kept in %s, mode 0600):\n"
                "  AWS_ACCESS_KEY_ID=%s\n  AWS_SECRET_ACCESS_KEY=%s\n",
                credentials_path.c_str(), generated->first.c_str(), generated->second.c_str());
    std::fflush(stdout);
  }


  s3::S3Options s3_options;
  s3_options.region = options.region;
  s3_options.virtual_host_suffixes = options.virtual_host_suffixes;
  s3_options.max_object_size = options.max_object_bytes;
  // Small reads are answered on the I/O threads only when nothing they touch waits on a network.
  s3_options.inline_small_reads = !upstream && (*key_manager)->id() == "local";
  s3::S3Handler s3_handler(s3_options, credentials, engine, metrics, *audit);

  std::vector<admin::ReadinessCheck> checks;
  checks.push_back({"keys", [&] { return (*key_manager)->health(); }});
  checks.push_back({"store", [&]() -> Status {
                      if (upstream) {
                        // One HEAD of the bucket, not retried: /ready answers fast while the upstream is down.
                        auto status = upstream->check_upstream();
                        metrics.set_upstream_up(status.has_value());
                        return status;
                      }
                      store::ListRequest probe;
                      probe.prefix = ".blobseal/";
                      probe.max_keys = 1;
                      auto listed = object_store->list(probe);
                      if (!listed) return tl::unexpected(listed.error());
                      return {};
                    }});
  admin::AdminHandler admin_handler(metrics, std::move(checks));
  Router router(admin_handler, s3_handler);

  std::ofstream access_log_file;
  http::ServerOptions server_options;
  server_options.listen = options.listen;
  server_options.io_threads = options.threads;
  server_options.worker_threads = options.workers;
  server_options.max_connections = options.max_connections;
  server_options.max_header_bytes = options.max_header_bytes;
  server_options.header_timeout = std::chrono::seconds(options.header_timeout_seconds);
  server_options.idle_timeout = std::chrono::seconds(options.idle_timeout_seconds);
  server_options.body_timeout = std::chrono::seconds(options.body_timeout_seconds);
  // A body may carry aws-chunked framing on top of the object's bytes: leave room for it.
  server_options.max_body_bytes = options.max_object_bytes + options.max_object_bytes / 64 + (1 << 20);
  if (!options.tls_certificate.empty() || !options.tls_private_key.empty())
    server_options.tls = http::TlsOptions{options.tls_certificate, options.tls_private_key};
  if (options.access_log == "-") {
    server_options.access_log = http::access_log_to(std::cerr);
  } else if (options.access_log != "off") {
    access_log_file.open(options.access_log, std::ios::app);
    if (!access_log_file) return fail("cannot open the access log " + options.access_log);
    server_options.access_log = http::access_log_to(access_log_file);
  }

  auto server = http::Server::create(server_options, router);
  if (!server) return fail(server.error().to_string());
  std::string host = options.listen.substr(0, options.listen.rfind(':'));
  std::printf("blobseal: listening on %s://%s:%u (%s, keyring %s)\n", server_options.tls ? "https" : "http",
              host.c_str(), static_cast<unsigned>((*server)->port()), store_description.c_str(), keyring_path.c_str());
  std::fflush(stdout);
  std::optional<OrphanSweeper> sweeper;
  if (upstream) {
    auto* mapped = dynamic_cast<store::BucketMappedStore*>(object_store.get());
    sweeper.emplace(
        [upstream, mapped](std::chrono::seconds min_age) {
          return mapped ? mapped->remove_orphans(min_age) : upstream->remove_orphans(min_age);
        },
        std::chrono::minutes(options.orphan_sweep_minutes));
  }
  (*server)->run_until_signal(std::chrono::seconds(options.shutdown_grace_seconds));
  sweeper.reset();
  server->reset();
  if (auto* sink = dynamic_cast<obs::JsonLinesFileSink*>(audit.get())) (void)sink->close();
  if (!options.quiet) std::fprintf(stderr, "blobseal: stopped\n");
  return 0;
}

}  // namespace blobseal::cli
