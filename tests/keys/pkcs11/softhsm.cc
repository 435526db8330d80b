#include "softhsm.h"

#include <dlfcn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#define CRYPTOKI_GNU 1
#include <p11-kit/pkcs11.h>

namespace blobseal::keys::testing {

namespace {

constexpr unsigned char kYes = 1;
constexpr unsigned char kNo = 0;

struct ck_attribute attribute(ck_attribute_type_t type, const void* value, unsigned long size) {
  return {type, const_cast<void*>(value), size};
}

}  // namespace

bool softhsm_installed() { return std::filesystem::exists(std::string(kSoftHsmModule)); }

SoftHsmToken::SoftHsmToken() {
  if (const char* conf = std::getenv("SOFTHSM2_CONF")) saved_conf_ = conf;
  std::string tokens = dir_.file("tokens");
  std::filesystem::create_directory(tokens);
  std::string conf = dir_.file("softhsm2.conf");
  write_text(conf, fmt::format("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens));
  ::setenv("SOFTHSM2_CONF", conf.c_str(), 1);
  std::string command = fmt::format(
      "softhsm2-util --init-token --free --label '{}' --pin '{}' --so-pin '{}' "
      ">/dev/null 2>&1",
      kTokenLabel, kUserPin, kSoPin);
  int status = std::system(command.c_str());
  ready_ = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

SoftHsmToken::~SoftHsmToken() {
  if (saved_conf_) {
    ::setenv("SOFTHSM2_CONF", saved_conf_->c_str(), 1);
  } else {
    ::unsetenv("SOFTHSM2_CONF");
  }
}

Pkcs11Options SoftHsmToken::options(std::string_view pin) const {
  Pkcs11Options options;
  options.module_path = std::string(kSoftHsmModule);
  options.token_label = std::string(kTokenLabel);
  options.pin = SecretBytes(as_bytes(pin));
  options.create_default_key = true;
  return options;
}

KeyManagerConfig SoftHsmToken::config() const {
  return {{"module", std::string(kSoftHsmModule)},
          {"token_label", std::string(kTokenLabel)},
          {"pin", std::string(kUserPin)},
          {"create_default_key", "true"}};
}

struct RawToken::Api {
  struct ck_function_list* functions = nullptr;
};

RawToken::RawToken() : api_(new Api) {
  // dlopen of a loaded library returns the same copy: this shares the module with the manager under test.
  void* handle = ::dlopen(std::string(kSoftHsmModule).c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    error_ = "dlopen failed";
    return;
  }
  auto get = reinterpret_cast<ck_rv_t (*)(struct ck_function_list**)>(::dlsym(handle, "C_GetFunctionList"));
  if (get == nullptr || get(&api_->functions) != CKR_OK) {
    error_ = "C_GetFunctionList failed";
    return;
  }
  auto& f = *api_->functions;
  struct ck_c_initialize_args args {};
  args.flags = CKF_OS_LOCKING_OK;
  ck_rv_t rv = f.C_Initialize(&args);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    error_ = fmt::format("C_Initialize: 0x{:x}", rv);
    return;
  }
  initialized_here_ = rv == CKR_OK;
  unsigned long count = 0;
  f.C_GetSlotList(1, nullptr, &count);
  std::vector<ck_slot_id_t> slots(count);
  f.C_GetSlotList(1, slots.data(), &count);
  for (ck_slot_id_t slot : slots) {
    struct ck_token_info info {};
    if (f.C_GetTokenInfo(slot, &info) != CKR_OK) continue;
    std::string label(reinterpret_cast<const char*>(info.label), sizeof info.label);
    while (!label.empty() && label.back() == ' ') label.pop_back();
    if (label != kTokenLabel) continue;
    slot_ = slot;
    ck_session_handle_t session = 0;
    rv = f.C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &session);
    if (rv != CKR_OK) {
      error_ = fmt::format("C_OpenSession: 0x{:x}", rv);
      return;
    }
    rv = f.C_Login(session, CKU_USER, reinterpret_cast<unsigned char*>(const_cast<char*>(kUserPin.data())),
                   kUserPin.size());
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
      f.C_CloseSession(session);
      error_ = fmt::format("C_Login: 0x{:x}", rv);
      return;
    }
    session_ = session;
    return;
  }
  error_ = "test token not found";
}

RawToken::~RawToken() {
  if (api_->functions != nullptr) {
    if (session_ != 0) api_->functions->C_CloseSession(session_);
    if (initialized_here_) api_->functions->C_Finalize(nullptr);
  }
  delete api_;
}

std::vector<unsigned long> RawToken::find(std::string_view label) {
  auto& f = *api_->functions;
  std::vector<unsigned long> out;
  struct ck_attribute search[] = {attribute(CKA_LABEL, label.data(), label.size())};
  if (f.C_FindObjectsInit(session_, search, 1) != CKR_OK) return out;
  ck_object_handle_t found[16];
  unsigned long count = 0;
  while (f.C_FindObjects(session_, found, 16, &count) == CKR_OK && count > 0)
    out.insert(out.end(), found, found + count);
  f.C_FindObjectsFinal(session_);
  return out;
}

unsigned long RawToken::read_value_rv(unsigned long object) {
  SecretBytes buffer(64);
  struct ck_attribute value = attribute(CKA_VALUE, buffer.data(), buffer.size());
  return api_->functions->C_GetAttributeValue(session_, object, &value, 1);
}

std::optional<bool> RawToken::flag(unsigned long object, unsigned long type) {
  unsigned char value = 0;
  struct ck_attribute a = attribute(type, &value, 1);
  if (api_->functions->C_GetAttributeValue(session_, object, &a, 1) != CKR_OK) return std::nullopt;
  return value != 0;
}

std::optional<SecretBytes> RawToken::value(unsigned long object) {
  SecretBytes buffer(64);
  struct ck_attribute a = attribute(CKA_VALUE, buffer.data(), buffer.size());
  if (api_->functions->C_GetAttributeValue(session_, object, &a, 1) != CKR_OK) return std::nullopt;
  return SecretBytes(buffer.view().first(a.value_len));
}

unsigned long RawToken::generate_extractable_aes_key(std::string_view label) {
  ck_object_class_t secret_key = CKO_SECRET_KEY;
  ck_key_type_t aes = CKK_AES;
  unsigned long size = 32;
  struct ck_attribute attributes[] = {
      attribute(CKA_CLASS, &secret_key, sizeof secret_key),
      attribute(CKA_KEY_TYPE, &aes, sizeof aes),
      attribute(CKA_VALUE_LEN, &size, sizeof size),
      attribute(CKA_LABEL, label.data(), label.size()),
      attribute(CKA_TOKEN, &kYes, 1),
      attribute(CKA_PRIVATE, &kYes, 1),
      attribute(CKA_SENSITIVE, &kNo, 1),
      attribute(CKA_EXTRACTABLE, &kYes, 1),
      attribute(CKA_ENCRYPT, &kYes, 1),
      attribute(CKA_DECRYPT, &kYes, 1),
      attribute(CKA_WRAP, &kYes, 1),
      attribute(CKA_UNWRAP, &kYes, 1),
  };
  struct ck_mechanism mechanism {
    CKM_AES_KEY_GEN, nullptr, 0
  };
  ck_object_handle_t handle = 0;
  if (api_->functions->C_GenerateKey(session_, &mechanism, attributes, std::size(attributes), &handle) != CKR_OK)
    return 0;
  return handle;
}

unsigned long RawToken::generate_extractable_secret(std::string_view label, unsigned long size) {
  ck_object_class_t secret_key = CKO_SECRET_KEY;
  ck_key_type_t generic = CKK_GENERIC_SECRET;
  struct ck_attribute attributes[] = {
      attribute(CKA_CLASS, &secret_key, sizeof secret_key),
      attribute(CKA_KEY_TYPE, &generic, sizeof generic),
      attribute(CKA_VALUE_LEN, &size, sizeof size),
      attribute(CKA_LABEL, label.data(), label.size()),
      attribute(CKA_TOKEN, &kNo, 1),
      attribute(CKA_SENSITIVE, &kNo, 1),
      attribute(CKA_EXTRACTABLE, &kYes, 1),
  };
  struct ck_mechanism mechanism {
    CKM_GENERIC_SECRET_KEY_GEN, nullptr, 0
  };
  ck_object_handle_t handle = 0;
  if (api_->functions->C_GenerateKey(session_, &mechanism, attributes, std::size(attributes), &handle) != CKR_OK)
    return 0;
  return handle;
}

std::optional<Bytes> RawToken::wrap_key_pad(unsigned long wrapping_key, unsigned long key) {
  struct ck_mechanism mechanism {
    CKM_AES_KEY_WRAP_PAD, nullptr, 0
  };
  Bytes out(256);
  unsigned long size = out.size();
  if (api_->functions->C_WrapKey(session_, &mechanism, wrapping_key, key, out.data(), &size) != CKR_OK)
    return std::nullopt;
  out.resize(size);
  return out;
}

unsigned long RawToken::close_all_sessions() {
  unsigned long rv = api_->functions->C_CloseAllSessions(slot_);
  session_ = 0;
  return rv;
}

}  // namespace blobseal::keys::testing
