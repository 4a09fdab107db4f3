#include "shared/storage/fault_env.h"

#include <filesystem>
#include <system_error>
#include <utility>

namespace fedge::storage {

using rocksdb::FileOptions;
using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

namespace {

class FaultWritableFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultWritableFile(FaultFileSystem* fs, std::string fname,
                    std::unique_ptr<rocksdb::FSWritableFile> file, uint64_t size)
      : FSWritableFileOwnerWrapper(std::move(file)),
        fs_(fs),
        fname_(std::move(fname)),
        size_(size) {}

  IOStatus Append(const Slice& data, const IOOptions& o, IODebugContext* dbg) override {
    IOStatus s = fs_->CheckWrite();
    if (s.ok()) s = target()->Append(data, o, dbg);
    if (s.ok()) Grow(size_ + data.size());
    return s;
  }
  IOStatus Append(const Slice& data, const IOOptions& o, const rocksdb::DataVerificationInfo& info,
                  IODebugContext* dbg) override {
    IOStatus s = fs_->CheckWrite();
    if (s.ok()) s = target()->Append(data, o, info, dbg);
    if (s.ok()) Grow(size_ + data.size());
    return s;
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& o,
                            IODebugContext* dbg) override {
    IOStatus s = fs_->CheckWrite();
    if (s.ok()) s = target()->PositionedAppend(data, offset, o, dbg);
    if (s.ok()) Grow(std::max(size_, offset + data.size()));
    return s;
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& o,
                            const rocksdb::DataVerificationInfo& info,
                            IODebugContext* dbg) override {
    IOStatus s = fs_->CheckWrite();
    if (s.ok()) s = target()->PositionedAppend(data, offset, o, info, dbg);
    if (s.ok()) Grow(std::max(size_, offset + data.size()));
    return s;
  }
  IOStatus Truncate(uint64_t size, const IOOptions& o, IODebugContext* dbg) override {
    IOStatus s = fs_->CheckWrite();
    if (s.ok()) s = target()->Truncate(size, o, dbg);
    if (s.ok()) Grow(size);
    return s;
  }
  IOStatus Allocate(uint64_t offset, uint64_t len, const IOOptions& o,
                    IODebugContext* dbg) override {
    IOStatus s = fs_->CheckWrite();
    return s.ok() ? target()->Allocate(offset, len, o, dbg) : s;
  }
  IOStatus Sync(const IOOptions& o, IODebugContext* dbg) override {
    IOStatus s = fs_->CheckSync();
    if (s.ok()) s = target()->Sync(o, dbg);
    if (s.ok()) fs_->NoteSynced(fname_);
    return s;
  }
  IOStatus Fsync(const IOOptions& o, IODebugContext* dbg) override {
    IOStatus s = fs_->CheckSync();
    if (s.ok()) s = target()->Fsync(o, dbg);
    if (s.ok()) fs_->NoteSynced(fname_);
    return s;
  }
  // RangeSync does not make the file's size durable, so it does not count as a sync.
  IOStatus RangeSync(uint64_t offset, uint64_t nbytes, const IOOptions& o,
                     IODebugContext* dbg) override {
    IOStatus s = fs_->CheckSync();
    return s.ok() ? target()->RangeSync(offset, nbytes, o, dbg) : s;
  }

 private:
  void Grow(uint64_t size) {
    size_ = size;
    fs_->NoteSize(fname_, size);
  }

  FaultFileSystem* fs_;
  const std::string fname_;
  uint64_t size_;  // RocksDB uses a writable file from one thread at a time
};

class FaultRandomAccessFile : public rocksdb::FSRandomAccessFileOwnerWrapper {
 public:
  FaultRandomAccessFile(FaultFileSystem* fs, std::unique_ptr<rocksdb::FSRandomAccessFile> file)
      : FSRandomAccessFileOwnerWrapper(std::move(file)), fs_(fs) {}

  IOStatus Read(uint64_t offset, size_t n, const IOOptions& o, Slice* result, char* scratch,
                IODebugContext* dbg) const override {
    IOStatus s = fs_->CheckRead();
    return s.ok() ? target()->Read(offset, n, o, result, scratch, dbg) : s;
  }
  IOStatus MultiRead(rocksdb::FSReadRequest* reqs, size_t num_reqs, const IOOptions& o,
                     IODebugContext* dbg) override {
    IOStatus s = fs_->CheckRead();
    if (!s.ok()) {
      for (size_t i = 0; i < num_reqs; ++i) reqs[i].status = s;
      return s;
    }
    return target()->MultiRead(reqs, num_reqs, o, dbg);
  }

 private:
  FaultFileSystem* fs_;
};

class FaultSequentialFile : public rocksdb::FSSequentialFileOwnerWrapper {
 public:
  FaultSequentialFile(FaultFileSystem* fs, std::unique_ptr<rocksdb::FSSequentialFile> file)
      : FSSequentialFileOwnerWrapper(std::move(file)), fs_(fs) {}

  IOStatus Read(size_t n, const IOOptions& o, Slice* result, char* scratch,
                IODebugContext* dbg) override {
    IOStatus s = fs_->CheckRead();
    return s.ok() ? target()->Read(n, o, result, scratch, dbg) : s;
  }
  IOStatus PositionedRead(uint64_t offset, size_t n, const IOOptions& o, Slice* result,
                          char* scratch, IODebugContext* dbg) override {
    IOStatus s = fs_->CheckRead();
    return s.ok() ? target()->PositionedRead(offset, n, o, result, scratch, dbg) : s;
  }

 private:
  FaultFileSystem* fs_;
};

uint64_t FileSizeOrZero(const std::string& fname) {
  std::error_code ec;
  uint64_t size = std::filesystem::file_size(fname, ec);
  return ec ? 0 : size;
}

}  // namespace

FaultFileSystem::FaultFileSystem(const std::shared_ptr<rocksdb::FileSystem>& base)
    : FileSystemWrapper(base) {}

std::unique_ptr<rocksdb::Env> FaultFileSystem::MakeEnv(
    const std::shared_ptr<FaultFileSystem>& self) {
  return rocksdb::NewCompositeEnv(self);
}

void FaultFileSystem::ClearFaults() {
  fail_writes_.store(false);
  fail_syncs_.store(false);
  fail_reads_.store(false);
  no_space_.store(false);
}

IOStatus FaultFileSystem::CheckWrite() {
  if (no_space_.load()) {
    ++injected_;
    return IOStatus::NoSpace("injected: no space left on device");
  }
  if (fail_writes_.load()) {
    ++injected_;
    return IOStatus::IOError("injected write fault");
  }
  return IOStatus::OK();
}

IOStatus FaultFileSystem::CheckSync() {
  if (no_space_.load()) {
    ++injected_;
    return IOStatus::NoSpace("injected: no space left on device");
  }
  if (fail_syncs_.load()) {
    ++injected_;
    return IOStatus::IOError("injected sync fault");
  }
  return IOStatus::OK();
}

IOStatus FaultFileSystem::CheckRead() {
  if (fail_reads_.load()) {
    ++injected_;
    return IOStatus::IOError("injected read fault");
  }
  return IOStatus::OK();
}

void FaultFileSystem::NoteSize(const std::string& fname, uint64_t size) {
  std::lock_guard<std::mutex> lock(mu_);
  Sizes& s = files_[fname];
  s.size = size;
  s.synced = std::min(s.synced, size);
}

void FaultFileSystem::NoteSynced(const std::string& fname) {
  std::lock_guard<std::mutex> lock(mu_);
  Sizes& s = files_[fname];
  s.synced = s.size;
}

std::unique_ptr<rocksdb::FSWritableFile> FaultFileSystem::Track(
    const std::string& fname, std::unique_ptr<rocksdb::FSWritableFile> file, uint64_t size,
    uint64_t synced) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    files_[fname] = Sizes{size, synced};
  }
  return std::make_unique<FaultWritableFile>(this, fname, std::move(file), size);
}

IOStatus FaultFileSystem::NewSequentialFile(const std::string& fname, const FileOptions& opts,
                                            std::unique_ptr<rocksdb::FSSequentialFile>* result,
                                            IODebugContext* dbg) {
  std::unique_ptr<rocksdb::FSSequentialFile> file;
  IOStatus s = target()->NewSequentialFile(fname, opts, &file, dbg);
  if (s.ok()) *result = std::make_unique<FaultSequentialFile>(this, std::move(file));
  return s;
}

IOStatus FaultFileSystem::NewRandomAccessFile(const std::string& fname, const FileOptions& opts,
                                              std::unique_ptr<rocksdb::FSRandomAccessFile>* result,
                                              IODebugContext* dbg) {
  std::unique_ptr<rocksdb::FSRandomAccessFile> file;
  IOStatus s = target()->NewRandomAccessFile(fname, opts, &file, dbg);
  if (s.ok()) *result = std::make_unique<FaultRandomAccessFile>(this, std::move(file));
  return s;
}

IOStatus FaultFileSystem::NewWritableFile(const std::string& fname, const FileOptions& opts,
                                          std::unique_ptr<rocksdb::FSWritableFile>* result,
                                          IODebugContext* dbg) {
  std::unique_ptr<rocksdb::FSWritableFile> file;
  IOStatus s = target()->NewWritableFile(fname, opts, &file, dbg);
  if (s.ok()) *result = Track(fname, std::move(file), 0, 0);
  return s;
}

IOStatus FaultFileSystem::ReopenWritableFile(const std::string& fname, const FileOptions& opts,
                                             std::unique_ptr<rocksdb::FSWritableFile>* result,
                                             IODebugContext* dbg) {
  std::unique_ptr<rocksdb::FSWritableFile> file;
  IOStatus s = target()->ReopenWritableFile(fname, opts, &file, dbg);
  if (!s.ok()) return s;
  const uint64_t size = FileSizeOrZero(fname);
  uint64_t synced = size;  // bytes from before this file system saw the file count as durable
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = files_.find(fname); it != files_.end()) synced = it->second.synced;
  }
  *result = Track(fname, std::move(file), size, std::min(synced, size));
  return s;
}

IOStatus FaultFileSystem::ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                            const FileOptions& opts,
                                            std::unique_ptr<rocksdb::FSWritableFile>* result,
                                            IODebugContext* dbg) {
  std::unique_ptr<rocksdb::FSWritableFile> file;
  IOStatus s = target()->ReuseWritableFile(fname, old_fname, opts, &file, dbg);
  if (!s.ok()) return s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    files_.erase(old_fname);
  }
  // A recycled log is overwritten from offset 0; its stale tail is ignored by RocksDB.
  *result = Track(fname, std::move(file), 0, 0);
  return s;
}

IOStatus FaultFileSystem::RenameFile(const std::string& src, const std::string& target_name,
                                     const IOOptions& opts, IODebugContext* dbg) {
  IOStatus s = target()->RenameFile(src, target_name, opts, dbg);
  if (s.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    files_.erase(target_name);
    if (auto it = files_.find(src); it != files_.end()) {
      files_[target_name] = it->second;
      files_.erase(src);
    }
  }
  return s;
}

IOStatus FaultFileSystem::DeleteFile(const std::string& fname, const IOOptions& opts,
                                     IODebugContext* dbg) {
  IOStatus s = target()->DeleteFile(fname, opts, dbg);
  if (s.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    files_.erase(fname);
  }
  return s;
}

IOStatus FaultFileSystem::DropUnsyncedData() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [fname, sizes] : files_) {
    std::error_code ec;
    if (!std::filesystem::exists(fname, ec)) continue;
    std::filesystem::resize_file(fname, sizes.synced, ec);
    if (ec) return IOStatus::IOError("cannot truncate " + fname + ": " + ec.message());
    sizes.size = sizes.synced;
  }
  return IOStatus::OK();
}

}  // namespace fedge::storage
