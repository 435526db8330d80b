#include "store/local/open_data_files.h"

namespace blobseal::store::local {

std::shared_ptr<FileSource> OpenDataFiles::find(std::string_view id) {
  std::lock_guard lock(mutex_);
  auto it = files_.find(id);
  return it == files_.end() ? nullptr : it->second;
}

void OpenDataFiles::keep(std::string_view id, std::shared_ptr<FileSource> file) {
  if (file->size() > kMaxFileSize) return;
  std::unordered_map<std::string, std::shared_ptr<FileSource>, Hash, std::equal_to<>> dropped;
  {
    std::lock_guard lock(mutex_);
    if (files_.size() >= kMaxFiles) dropped.swap(files_);  // closed below, outside the lock
    files_.insert_or_assign(std::string(id), std::move(file));
  }
}

void OpenDataFiles::forget(std::string_view id) {
  std::shared_ptr<FileSource> dropped;  // closed after the lock is released
  std::lock_guard lock(mutex_);
  auto it = files_.find(id);
  if (it == files_.end()) return;
  dropped = std::move(it->second);
  files_.erase(it);
}

}  // namespace blobseal::store::local
