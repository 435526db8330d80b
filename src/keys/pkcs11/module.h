// A PKCS#11 module loaded into the process: dlopen, C_GetFunctionList, C_Initialize with OS locking. PKCS#11 allows
// one initialization per process, so every user of the same module file shares one Module; the last user to let go
// calls C_Finalize (only when this process's C_Initialize was the one that succeeded). The library itself is never
// unloaded: modules commonly leave threads or atexit handlers behind that crash after dlclose.
//
// Private to keys/pkcs11: the only header that includes the PKCS#11 definitions (p11-kit's pkcs11.h, GNU names).
#pragma once

#define CRYPTOKI_GNU 1
#include <p11-kit/pkcs11.h>

#include <memory>
#include <string>

#include "core/error.h"

namespace blobseal::keys::pkcs11 {

// "CKR_PIN_INCORRECT" and so on; hex for a value this file does not name.
std::string rv_name(ck_rv_t rv);

class Module {
 public:
  // Loads the module at `path`, or shares the one already loaded from the same file. InvalidArgument for an empty
  // path, NotFound when the file does not exist, FailedPrecondition when it is not a loadable PKCS#11 module or its
  // C_Initialize fails (for SoftHSM2: SOFTHSM2_CONF missing or naming a bad token directory).
  static Result<std::shared_ptr<Module>> load(const std::string& path);

  ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The module's functions; valid while this object lives.
  struct ck_function_list& api() const {
    return *api_;
  }
  const std::string& path() const { return path_; }

 private:
  Module(std::string path, std::string canonical_path, struct ck_function_list* api);

  std::string path_;
  std::string canonical_path_;
  struct ck_function_list* api_;
};

}  // namespace blobseal::keys::pkcs11
