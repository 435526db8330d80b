// blobseal: files sealed at rest. Command-line entry point (CLI11); the work is in commands.cc.
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/rewrap.h"
#include "cli/serve.h"
#include "crypto/primitives.h"

namespace {
constexpr const char* kVersion = "0.1.0 (sealed format v1)";
}

int main(int argc, char** argv) {
  using namespace blobseal::cli;
  CLI::App app{"blobseal: files sealed at rest (AES-256-GCM chunked encryption, envelope keys), streamed back with "
               "bounded memory."};
  app.set_version_flag("--version", kVersion);
  app.require_subcommand(1);

  GlobalOptions global;
  unsigned dual_read = 0;
  auto* keyring = app.add_option("--keyring", global.keyring,
                                 "Keyring file (0600). Without one, the key comes from BLOB_KEY (base64 of 32 bytes)")
                      ->envname("BLOBSEAL_KEYRING");
  keyring->group("Keys and store");
  app.add_option("--store", global.store, "Local store directory")->envname("BLOBSEAL_STORE")->group("Keys and store");
  auto* dual = app.add_option("--dual-read-versions", dual_read,
                              "Accept data keys wrapped under only the N newest key versions (0: every version not "
                              "retired)")
                   ->envname("BLOBSEAL_DUAL_READ_VERSIONS")
                   ->group("Keys and store");
  app.add_option("--kms", global.kms,
                 "Key manager for every command but serve (which takes its own --kms, defaulting to this one): local "
                 "(the keyring file), pkcs11, kmip, vault or awskms (see docs/KMS.md)")
      ->envname("BLOBSEAL_KMS")
      ->group("Keys and store");
  app.add_option("--kms-setting", global.kms_settings, "A setting of the --kms key manager, NAME=VALUE (repeatable)")
      ->envname("BLOBSEAL_KMS_SETTING")
      ->group("Keys and store");
  app.add_option("--upstream", global.upstream,
                 "For the store commands (put, get, ls, rm, verify, rewrap, reencrypt): the gateway's upstream store, "
                 "http(s)://HOST[:PORT]/BUCKET[/PREFIX] as given to serve --upstream, instead of --store (credentials: "
                 "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the shared credentials file)")
      ->group("Keys and store");
  app.add_option("--upstream-ca-file", global.upstream_ca_file, "CA certificates for an https upstream")
      ->group("Keys and store");
  app.add_flag("-q,--quiet", global.quiet, "No progress bar or informational output");

  CryptOptions encrypt_options;
  auto* encrypt = app.add_subcommand("encrypt", "Seal a file or stdin (like age: output to stdout unless -o)");
  encrypt->add_option("input", encrypt_options.input, "Input file (default: stdin)");
  encrypt->add_option("-o,--output", encrypt_options.output, "Output file (default: stdout)");
  encrypt->add_option("--context", encrypt_options.context,
                      "A name the sealed file is bound to; decrypt must give the same one");

  CryptOptions decrypt_options;
  auto* decrypt = app.add_subcommand("decrypt", "Open a sealed file; refuses tampered, truncated or extended input");
  decrypt->add_option("input", decrypt_options.input, "Sealed file (default: stdin)");
  decrypt->add_option("-o,--output", decrypt_options.output, "Output file (default: stdout)");
  decrypt->add_option("--context", decrypt_options.context, "The name given to encrypt --context");

  auto* keys = app.add_subcommand("keys", "Manage keys: the local keyring, or the --kms key manager's (pkcs11, kmip)");
  keys->require_subcommand(1);
  std::string init_name = "default";
  auto* keys_init = keys->add_subcommand("init", "Create a keyring file (0600) with one key");
  keys_init->add_option("--key", init_name, "Name of the first key");
  bool keys_json = false;
  auto* keys_list = keys->add_subcommand("list", "List keys and versions with their state");
  keys_list->add_flag("--json", keys_json, "JSON output");
  std::string rotate_name;
  auto* keys_rotate = keys->add_subcommand("rotate", "Add a new version to a key; new objects use it");
  keys_rotate->add_option("key", rotate_name, "Key name (default: the default key)");
  std::string retire_name;
  std::uint32_t retire_version = 0;
  auto* keys_retire = keys->add_subcommand("retire", "Retire a key version: data keys wrapped under it stop opening");
  keys_retire->add_option("key", retire_name, "Key name")->required();
  keys_retire->add_option("version", retire_version, "Version number")->required();
  std::string destroy_name;
  std::uint32_t destroy_version = 0;
  auto* keys_destroy = keys->add_subcommand(
      "destroy", "Destroy a retired key version's material for good: run blobseal rewrap and retire it first");
  keys_destroy->add_option("key", destroy_name, "Key name")->required();
  keys_destroy->add_option("version", destroy_version, "Version number")->required();

  PutCommand put_command;
  auto* put = app.add_subcommand("put", "Seal a file (or stdin) into the store under KEY");
  put->add_option("key", put_command.key, "Object key")->required();
  put->add_option("file", put_command.file, "Input file (default: stdin)");
  put->add_option("--content-type", put_command.content_type, "Content-Type to record");
  put->add_option("--meta", put_command.meta, "User metadata NAME=VALUE (repeatable)");

  GetCommand get_command;
  auto* get = app.add_subcommand("get", "Write an object's plaintext to stdout or -o FILE");
  get->add_option("key", get_command.key, "Object key")->required();
  get->add_option("-o,--output", get_command.output, "Output file (default: stdout)");
  get->add_option("--range", get_command.range, "Byte range FIRST-LAST, FIRST- or -SUFFIX (HTTP Range style)");

  std::string head_key;
  bool head_json = false;
  auto* head = app.add_subcommand("head", "Show an object's size, ETag, metadata and key version");
  head->add_option("key", head_key, "Object key")->required();
  head->add_flag("--json", head_json, "JSON output");

  ListCommand ls_command;
  auto* ls = app.add_subcommand("ls", "List objects (plaintext sizes)");
  ls->add_option("prefix", ls_command.prefix, "Key prefix");
  ls->add_option("-d,--delimiter", ls_command.delimiter, "Group keys by this delimiter (e.g. /)");
  ls->add_option("--max", ls_command.max_keys, "Stop after N entries");
  ls->add_flag("--json", ls_command.json, "JSON output");

  std::vector<std::string> rm_keys;
  auto* rm = app.add_subcommand("rm", "Delete objects");
  rm->add_option("keys", rm_keys, "Object keys")->required();

  VerifyCommand verify_command;
  RewrapCommand rewrap_command;
  auto* rewrap = app.add_subcommand(
      "rewrap", "After a key rotation: rewrite the envelopes of objects not on the current key version (no data is "
                "re-encrypted)");
  rewrap->add_option("directory", rewrap_command.directory, "Store directory (default: --store)");
  rewrap->add_option("--concurrency", rewrap_command.concurrency, "Objects rewrapped at once")->capture_default_str();
  rewrap->add_option("--checkpoint", rewrap_command.checkpoint,
                     "Progress file: an interrupted run resumes from it; removed once the walk completes");
  rewrap->add_flag("--dry-run", rewrap_command.dry_run, "Count what would be rewrapped; write nothing");
  rewrap->add_option("--batch", rewrap_command.batch, "Objects listed at a time; the checkpoint advances per batch")
      ->capture_default_str();
  rewrap->add_option("--rate", rewrap_command.rate, "At most this many objects per second (0: no limit)")
      ->capture_default_str();
  rewrap->add_option("--audit-log", rewrap_command.audit_log, "Audit log, one JSON line per rewrapped or failed object");
  rewrap->add_flag("--json", rewrap_command.json, "JSON report");
  ReencryptCommand reencrypt_command;
  auto* reencrypt = app.add_subcommand(
      "reencrypt",
      "When data keys may have leaked: seal objects again under fresh data keys (read, verify, re-encrypt), keeping "
      "content, metadata, tags, ETag and last-modified. The selectors combine; with none, EVERY object is "
      "re-encrypted");
  reencrypt->add_option("directory", reencrypt_command.directory, "Store directory (default: --store)");
  reencrypt->add_option_function<std::string>(
      "--bucket", [&](const std::string& bucket) { reencrypt_command.bucket = bucket; },
      "Only objects of this bucket (\"\" for those stored with blobseal put)");
  reencrypt->add_option("--prefix", reencrypt_command.prefix, "Only objects whose key starts with this");
  reencrypt->add_option("--key", reencrypt_command.key,
                        "Only objects whose data key is wrapped under KEY, or under version VERSION of it (KEY:VERSION)");
  reencrypt->add_option("--sealed-before", reencrypt_command.sealed_before,
                        "Only objects sealed before this time: RFC 3339 (2026-01-31T12:00:00Z) or Unix seconds");
  reencrypt->add_option("--concurrency", reencrypt_command.concurrency, "Objects re-encrypted at once")
      ->capture_default_str();
  reencrypt->add_option("--checkpoint", reencrypt_command.checkpoint,
                        "Progress file: an interrupted run resumes from it; removed once the walk completes");
  reencrypt->add_flag("--dry-run", reencrypt_command.dry_run, "Count what would be re-encrypted; write nothing");
  reencrypt->add_option("--batch", reencrypt_command.batch, "Objects listed at a time; the checkpoint advances per batch")
      ->capture_default_str();
  reencrypt->add_option("--rate", reencrypt_command.rate, "At most this many objects per second (0: no limit)")
      ->capture_default_str();
  reencrypt->add_option("--audit-log", reencrypt_command.audit_log,
                        "Audit log, one JSON line per re-encrypted or failed object");
  reencrypt->add_flag("--json", reencrypt_command.json, "JSON report");
  auto* verify = app.add_subcommand("verify", "Scrub a store: decrypt and check every chunk of every object");
  verify->add_option("directory", verify_command.directory, "Store directory (default: --store)");
  verify->add_flag("--json", verify_command.json, "JSON report");
  verify->add_flag("--gc", verify_command.gc, "Also remove data files left unreferenced by crashes");

  ServeOptions serve_options;
  auto* serve = app.add_subcommand(
      "serve",
      "Run the S3 server on a local store, or with --upstream as a gateway in front of an S3 bucket. Every option can also be set by a BLOBSEAL_* environment variable or in "
      "the --config file (TOML, `name = value` with the option names below)");
  serve->set_config("--config", "", "Configuration file (TOML)");
  auto serve_option = [&](const char* name, auto& value, const char* help, const char* env) {
    return serve->add_option(name, value, help)->envname(env)->capture_default_str();
  };
  serve_option("--listen", serve_options.listen, "Address to listen on, HOST:PORT (port 0 picks a free one)",
               "BLOBSEAL_LISTEN");
  serve_option("--data", serve_options.data,
               "Data directory: store, keyring, credentials and audit log unless given separately", "BLOBSEAL_DATA");
  serve_option("--keyring", serve_options.keyring, "Keyring file (default DATA/keyring.json, created if missing)",
               "BLOBSEAL_KEYRING");
  serve_option("--store", serve_options.store, "Local store directory (default DATA/store)", "BLOBSEAL_STORE");
  serve_option("--credentials", serve_options.credentials,
               "Access keys file (TOML [[credential]] access_key/secret_key/tenant; default DATA/credentials.toml, "
               "generated on first start)",
               "BLOBSEAL_CREDENTIALS");
  serve_option("--access-key", serve_options.access_key, "A single access key (tenant \"default\")",
               "BLOBSEAL_ACCESS_KEY");
  serve_option("--secret-key", serve_options.secret_key, "Its secret key", "BLOBSEAL_SECRET_KEY");
  serve_option("--region", serve_options.region, "Region this server answers for", "BLOBSEAL_REGION");
  serve->add_option("--virtual-host-suffix", serve_options.virtual_host_suffixes,
                    "Host suffix for virtual-hosted-style requests (bucket.SUFFIX); repeatable")
      ->envname("BLOBSEAL_VIRTUAL_HOST_SUFFIX");
  auto* serve_kms = serve_option("--kms", serve_options.kms,
               "Key manager: local (the keyring file), pkcs11, kmip, vault or awskms (see docs/KMS.md)",
               "BLOBSEAL_KMS");
  auto* serve_kms_settings = serve->add_option("--kms-setting", serve_options.kms_settings,
                    "A setting of the key manager, NAME=VALUE (e.g. module=/usr/lib/softhsm/libsofthsm2.so); "
                    "repeatable")
      ->envname("BLOBSEAL_KMS_SETTING");
  serve_option("--kms-cache-entries", serve_options.kms_cache_entries,
               "Cache up to this many unwrapped data keys (0: no cache). While the key manager is down, reads of "
               "cached keys keep working; retiring a key version takes effect for them only as entries expire",
               "BLOBSEAL_KMS_CACHE_ENTRIES");
  serve_option("--kms-cache-ttl-seconds", serve_options.kms_cache_ttl_seconds, "Lifetime of a cached data key",
               "BLOBSEAL_KMS_CACHE_TTL_SECONDS");
  serve_option("--kms-cache-max-uses", serve_options.kms_cache_max_uses,
               "Reads a cached data key serves before it is dropped (0: no limit)", "BLOBSEAL_KMS_CACHE_MAX_USES");
  serve_option("--tls-cert", serve_options.tls_certificate, "TLS certificate chain (PEM); enables HTTPS",
               "BLOBSEAL_TLS_CERT");
  serve_option("--tls-key", serve_options.tls_private_key, "TLS private key (PEM)", "BLOBSEAL_TLS_KEY");
  serve_option("--audit-log", serve_options.audit_log,
               "Audit log, JSON lines (default DATA/audit.log; \"-\" stdout, \"off\" none)", "BLOBSEAL_AUDIT_LOG");
  serve_option("--access-log", serve_options.access_log, "Access log, JSON lines (\"-\" stderr, \"off\" none)",
               "BLOBSEAL_ACCESS_LOG");
  serve_option("--threads", serve_options.threads, "I/O threads (0: one per core)", "BLOBSEAL_THREADS");
  serve_option("--workers", serve_options.workers, "Request worker threads (0: 8 per core)", "BLOBSEAL_WORKERS");
  serve_option("--max-connections", serve_options.max_connections, "Maximum open connections",
               "BLOBSEAL_MAX_CONNECTIONS");
  serve_option("--max-header-bytes", serve_options.max_header_bytes, "Maximum request header size",
               "BLOBSEAL_MAX_HEADER_BYTES");
  serve_option("--header-timeout", serve_options.header_timeout_seconds,
               "Seconds to receive a request's headers (slowloris bound)", "BLOBSEAL_HEADER_TIMEOUT");
  serve_option("--idle-timeout", serve_options.idle_timeout_seconds, "Seconds a keep-alive connection may idle",
               "BLOBSEAL_IDLE_TIMEOUT");
  serve_option("--body-timeout", serve_options.body_timeout_seconds,
               "Seconds without progress while reading or writing a body", "BLOBSEAL_BODY_TIMEOUT");
  serve_option("--max-object-bytes", serve_options.max_object_bytes, "Largest single PUT or part body",
               "BLOBSEAL_MAX_OBJECT_BYTES");
  serve_option("--shutdown-grace", serve_options.shutdown_grace_seconds,
               "Seconds in-flight requests get to finish on SIGTERM/SIGINT", "BLOBSEAL_SHUTDOWN_GRACE");
  serve_option("--dual-read-versions", serve_options.dual_read_versions,
               "Accept data keys wrapped under only the N newest key versions (0: every version not retired)",
               "BLOBSEAL_DUAL_READ_VERSIONS");

  const char* gateway = "Gateway mode (upstream S3 store)";
  serve_option("--upstream", serve_options.upstream,
               "Keep the sealed objects in this upstream S3 bucket instead of DATA/store: "
               "http(s)://HOST[:PORT]/BUCKET[/PREFIX]; credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
               "(or the shared credentials file)",
               "BLOBSEAL_UPSTREAM")
      ->group(gateway);
  serve_option("--upstream-bucket-template", serve_options.upstream_bucket_template,
               "One upstream bucket per blobseal bucket, named by this template (e.g. \"sealed-{bucket}\"), created "
               "on first use; the URL's bucket then keeps the bucket registry. Default: all buckets under the URL's "
               "bucket and prefix",
               "BLOBSEAL_UPSTREAM_BUCKET_TEMPLATE")
      ->group(gateway);
  serve_option("--upstream-region", serve_options.upstream_region,
               "The upstream's region for signing (default AWS_REGION, AWS_DEFAULT_REGION, else us-east-1)",
               "BLOBSEAL_UPSTREAM_REGION")
      ->group(gateway);
  serve_option("--upstream-access-key", serve_options.upstream_access_key,
               "Static upstream credentials (default: AWS_ACCESS_KEY_ID, then the shared credentials file)",
               "BLOBSEAL_UPSTREAM_ACCESS_KEY")
      ->group(gateway);
  serve_option("--upstream-secret-key", serve_options.upstream_secret_key, "Its secret key",
               "BLOBSEAL_UPSTREAM_SECRET_KEY")
      ->group(gateway);
  serve->add_flag("--upstream-virtual-hosted", serve_options.upstream_virtual_hosted,
                  "Address the upstream bucket as BUCKET.HOST instead of HOST/BUCKET")
      ->envname("BLOBSEAL_UPSTREAM_VIRTUAL_HOSTED")
      ->group(gateway);
  serve_option("--upstream-ca-file", serve_options.upstream_ca_file, "CA bundle (PEM) for an https upstream",
               "BLOBSEAL_UPSTREAM_CA_FILE")
      ->group(gateway);
  serve->add_flag("--upstream-insecure", serve_options.upstream_insecure,
                  "Do not verify the upstream's TLS certificate (for tests; never in production)")
      ->envname("BLOBSEAL_UPSTREAM_INSECURE")
      ->group(gateway);
  serve->add_flag("--upstream-create-bucket", serve_options.upstream_create_bucket,
                  "Create the upstream bucket when it does not exist")
      ->envname("BLOBSEAL_UPSTREAM_CREATE_BUCKET")
      ->group(gateway);
  serve_option("--upstream-part-size", serve_options.upstream_part_size,
               "Bodies above this size go up as multipart uploads of such parts (5 MiB to 5 GiB)",
               "BLOBSEAL_UPSTREAM_PART_SIZE")
      ->group(gateway);
  serve_option("--upstream-max-attempts", serve_options.upstream_max_attempts,
               "Tries per idempotent upstream request (retries back off exponentially with full jitter)",
               "BLOBSEAL_UPSTREAM_MAX_ATTEMPTS")
      ->group(gateway);
  serve_option("--upstream-conditional-writes", serve_options.upstream_conditional_writes,
               "Conditional PUTs at the upstream: auto (probe), on, off", "BLOBSEAL_UPSTREAM_CONDITIONAL_WRITES")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->group(gateway);
  serve_option("--upstream-connect-timeout-ms", serve_options.upstream_connect_timeout_ms,
               "Milliseconds to connect to the upstream", "BLOBSEAL_UPSTREAM_CONNECT_TIMEOUT_MS")
      ->group(gateway);
  serve_option("--upstream-read-timeout-ms", serve_options.upstream_read_timeout_ms,
               "Milliseconds without progress on an upstream response", "BLOBSEAL_UPSTREAM_READ_TIMEOUT_MS")
      ->group(gateway);
  serve_option("--orphan-sweep-minutes", serve_options.orphan_sweep_minutes,
               "Remove unreferenced upstream bodies older than a day this often (0: never)",
               "BLOBSEAL_ORPHAN_SWEEP_MINUTES")
      ->group(gateway);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (dual->count() > 0) global.dual_read_versions = dual_read;
  if (!global.quiet && !blobseal::crypto::cpu_has_aes_acceleration())
    std::cerr << "blobseal: warning: this CPU has no AES/PCLMUL instructions; sealing will be much slower\n";

  if (serve->parsed()) {
    serve_options.quiet = global.quiet;
    // `blobseal --kms X serve` as `blobseal serve --kms X`.
    if (serve_kms->count() == 0 && !global.kms.empty()) serve_options.kms = global.kms;
    if (serve_kms_settings->count() == 0 && !global.kms_settings.empty()) serve_options.kms_settings = global.kms_settings;
    return run_serve(serve_options);
  }
  if (encrypt->parsed()) return run_encrypt(global, encrypt_options);
  if (decrypt->parsed()) return run_decrypt(global, decrypt_options);
  if (keys_init->parsed()) return run_keys_init(global, init_name);
  if (keys_list->parsed()) return run_keys_list(global, keys_json);
  if (keys_rotate->parsed()) return run_keys_rotate(global, rotate_name);
  if (keys_retire->parsed()) return run_keys_retire(global, retire_name, retire_version);
  if (keys_destroy->parsed()) return run_keys_destroy(global, destroy_name, destroy_version);
  if (put->parsed()) return run_put(global, put_command);
  if (get->parsed()) return run_get(global, get_command);
  if (head->parsed()) return run_head(global, head_key, head_json);
  if (ls->parsed()) return run_ls(global, ls_command);
  if (rm->parsed()) return run_rm(global, rm_keys);
  if (verify->parsed()) return run_verify(global, verify_command);
  if (rewrap->parsed()) return run_rewrap(global, rewrap_command);
  if (reencrypt->parsed()) return run_reencrypt(global, reencrypt_command);
  return 2;
}
