#include "keys/pkcs11/module.h"

#include <dlfcn.h>

#include <filesystem>
#include <map>
#include <mutex>

#include <fmt/format.h>

namespace blobseal::keys::pkcs11 {

namespace {

// One entry per module file loaded in this process.
struct LoadedModule {
  struct ck_function_list* api = nullptr;
  int users = 0;
  bool initialized_here = false;  // our C_Initialize succeeded, so ours is the C_Finalize
};

// Never destroyed: a Module released during static destruction must still find it.
std::mutex& registry_mutex() {
  static auto* mutex = new std::mutex;
  return *mutex;
}
std::map<std::string, LoadedModule>& registry() {
  static auto* modules = new std::map<std::string, LoadedModule>;
  return *modules;
}

}  // namespace

std::string rv_name(ck_rv_t rv) {
  switch (rv) {
#define BLOBSEAL_RV(name) \
  case name:              \
    return #name;
    BLOBSEAL_RV(CKR_OK)
    BLOBSEAL_RV(CKR_CANCEL)
    BLOBSEAL_RV(CKR_HOST_MEMORY)
    BLOBSEAL_RV(CKR_SLOT_ID_INVALID)
    BLOBSEAL_RV(CKR_GENERAL_ERROR)
    BLOBSEAL_RV(CKR_FUNCTION_FAILED)
    BLOBSEAL_RV(CKR_ARGUMENTS_BAD)
    BLOBSEAL_RV(CKR_ATTRIBUTE_READ_ONLY)
    BLOBSEAL_RV(CKR_ATTRIBUTE_SENSITIVE)
    BLOBSEAL_RV(CKR_ATTRIBUTE_TYPE_INVALID)
    BLOBSEAL_RV(CKR_ATTRIBUTE_VALUE_INVALID)
    BLOBSEAL_RV(CKR_DATA_INVALID)
    BLOBSEAL_RV(CKR_DATA_LEN_RANGE)
    BLOBSEAL_RV(CKR_DEVICE_ERROR)
    BLOBSEAL_RV(CKR_DEVICE_MEMORY)
    BLOBSEAL_RV(CKR_DEVICE_REMOVED)
    BLOBSEAL_RV(CKR_ENCRYPTED_DATA_INVALID)
    BLOBSEAL_RV(CKR_ENCRYPTED_DATA_LEN_RANGE)
    BLOBSEAL_RV(CKR_FUNCTION_NOT_SUPPORTED)
    BLOBSEAL_RV(CKR_KEY_HANDLE_INVALID)
    BLOBSEAL_RV(CKR_KEY_SIZE_RANGE)
    BLOBSEAL_RV(CKR_KEY_TYPE_INCONSISTENT)
    BLOBSEAL_RV(CKR_KEY_FUNCTION_NOT_PERMITTED)
    BLOBSEAL_RV(CKR_KEY_UNEXTRACTABLE)
    BLOBSEAL_RV(CKR_MECHANISM_INVALID)
    BLOBSEAL_RV(CKR_MECHANISM_PARAM_INVALID)
    BLOBSEAL_RV(CKR_OBJECT_HANDLE_INVALID)
    BLOBSEAL_RV(CKR_OPERATION_ACTIVE)
    BLOBSEAL_RV(CKR_OPERATION_NOT_INITIALIZED)
    BLOBSEAL_RV(CKR_PIN_INCORRECT)
    BLOBSEAL_RV(CKR_PIN_INVALID)
    BLOBSEAL_RV(CKR_PIN_LEN_RANGE)
    BLOBSEAL_RV(CKR_PIN_EXPIRED)
    BLOBSEAL_RV(CKR_PIN_LOCKED)
    BLOBSEAL_RV(CKR_SESSION_CLOSED)
    BLOBSEAL_RV(CKR_SESSION_COUNT)
    BLOBSEAL_RV(CKR_SESSION_HANDLE_INVALID)
    BLOBSEAL_RV(CKR_SESSION_READ_ONLY)
    BLOBSEAL_RV(CKR_TEMPLATE_INCOMPLETE)
    BLOBSEAL_RV(CKR_TEMPLATE_INCONSISTENT)
    BLOBSEAL_RV(CKR_TOKEN_NOT_PRESENT)
    BLOBSEAL_RV(CKR_TOKEN_NOT_RECOGNIZED)
    BLOBSEAL_RV(CKR_TOKEN_WRITE_PROTECTED)
    BLOBSEAL_RV(CKR_USER_ALREADY_LOGGED_IN)
    BLOBSEAL_RV(CKR_USER_NOT_LOGGED_IN)
    BLOBSEAL_RV(CKR_USER_PIN_NOT_INITIALIZED)
    BLOBSEAL_RV(CKR_USER_TYPE_INVALID)
    BLOBSEAL_RV(CKR_BUFFER_TOO_SMALL)
    BLOBSEAL_RV(CKR_CRYPTOKI_NOT_INITIALIZED)
    BLOBSEAL_RV(CKR_CRYPTOKI_ALREADY_INITIALIZED)
#undef BLOBSEAL_RV
    default:
      return fmt::format("CKR 0x{:x}", rv);
  }
}

Result<std::shared_ptr<Module>> Module::load(const std::string& path) {
  if (path.empty()) return make_error(ErrorCode::kInvalidArgument, "no PKCS#11 module path given");
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    return make_error(ErrorCode::kNotFound,
                      fmt::format("PKCS#11 module {} does not exist (install the HSM vendor's module, or the "
                                  "softhsm2 package for /usr/lib/softhsm/libsofthsm2.so)",
                                  path));
  std::string canonical = std::filesystem::canonical(path, ec).string();
  if (ec) canonical = path;

  std::lock_guard lock(registry_mutex());
  auto& modules = registry();
  auto found = modules.find(canonical);
  if (found == modules.end()) {
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* reason = ::dlerror();
      return make_error(ErrorCode::kFailedPrecondition,
                        fmt::format("cannot load PKCS#11 module {}: {}", path, reason ? reason : "dlopen failed"));
    }
    using GetFunctionList = ck_rv_t (*)(struct ck_function_list**);
    auto get_function_list = reinterpret_cast<GetFunctionList>(::dlsym(handle, "C_GetFunctionList"));
    if (get_function_list == nullptr)
      return make_error(ErrorCode::kFailedPrecondition,
                        fmt::format("{} is not a PKCS#11 module: it has no C_GetFunctionList", path));
    struct ck_function_list* api = nullptr;
    if (ck_rv_t rv = get_function_list(&api); rv != CKR_OK || api == nullptr)
      return make_error(ErrorCode::kFailedPrecondition,
                        fmt::format("C_GetFunctionList of PKCS#11 module {} failed: {}", path, rv_name(rv)));
    found = modules.emplace(canonical, LoadedModule{api, 0, false}).first;
  }
  LoadedModule& loaded = found->second;
  if (loaded.users == 0) {
    struct ck_c_initialize_args args {};
    args.flags = CKF_OS_LOCKING_OK;
    ck_rv_t rv = loaded.api->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
      return make_error(ErrorCode::kFailedPrecondition,
                        fmt::format("C_Initialize of PKCS#11 module {} failed: {} (for SoftHSM2: check that "
                                    "SOFTHSM2_CONF names a readable configuration whose directories.tokendir exists)",
                                    path, rv_name(rv)));
    // Someone else in the process (another library) initialized it: leave C_Finalize to them.
    loaded.initialized_here = rv == CKR_OK;
  }
  ++loaded.users;
  return std::shared_ptr<Module>(new Module(path, canonical, loaded.api));
}

Module::Module(std::string path, std::string canonical_path, struct ck_function_list* api)
    : path_(std::move(path)), canonical_path_(std::move(canonical_path)), api_(api) {}

Module::~Module() {
  std::lock_guard lock(registry_mutex());
  auto found = registry().find(canonical_path_);
  if (found == registry().end()) return;
  LoadedModule& loaded = found->second;
  if (--loaded.users > 0) return;
  if (loaded.initialized_here) loaded.api->C_Finalize(nullptr);
  loaded.initialized_here = false;
}

}  // namespace blobseal::keys::pkcs11
