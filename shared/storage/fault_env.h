#pragma once
// A RocksDB FileSystem that fails writes, syncs or reads on command, for storage-fault tests
// (leveldb's SpecialEnv and FaultInjectionTestEnv are the model). Wrap the default file system,
// build an Env with MakeEnv(), open the database with it, then flip the switches at any time:
//
//   auto fs = std::make_shared<storage::FaultFileSystem>();
//   std::unique_ptr<rocksdb::Env> env = fs->MakeEnv();
//   ... open the store with env.get() ...
//   fs->FailSyncs(true);   // the next synced write returns an IOError
//
// What the switches cover: data operations on files opened through this file system
// (Append/PositionedAppend/Truncate/Allocate for writes; Sync/Fsync/RangeSync for syncs;
// Read/PositionedRead/MultiRead for reads). Opening, renaming and deleting files and syncing
// directories are never failed. Reads served from RocksDB's memtable or block cache do not
// reach the file system, so FailReads only affects reads that go to disk.
//
// Crash simulation: the file system tracks, per file, how many bytes were synced.
// DropUnsyncedData() truncates every tracked file to that size, as a power cut would (call it
// with the database closed).
//
// Thread-safety: every method is thread-safe; RocksDB calls in from its background threads.
// The file system must outlive the Env from MakeEnv() and every database opened with it.

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace fedge::storage {

class FaultFileSystem : public rocksdb::FileSystemWrapper {
 public:
  explicit FaultFileSystem(
      const std::shared_ptr<rocksdb::FileSystem>& base = rocksdb::FileSystem::Default());

  // An Env whose files go through this file system (threads and clock from Env::Default()).
  // Keep `self` (a shared_ptr to this object) alive while the Env is in use.
  static std::unique_ptr<rocksdb::Env> MakeEnv(const std::shared_ptr<FaultFileSystem>& self);

  const char* Name() const override { return "FedgeFaultFileSystem"; }

  // Writes to files fail with IOError("injected write fault").
  void FailWrites(bool on) { fail_writes_.store(on); }
  // Syncs of files (WAL, SST, MANIFEST) fail with IOError("injected sync fault").
  void FailSyncs(bool on) { fail_syncs_.store(on); }
  // Reads of files fail with IOError("injected read fault").
  void FailReads(bool on) { fail_reads_.store(on); }
  // The disk is full: writes (and syncs, which may need to allocate) fail with
  // IOStatus::NoSpace, which RocksDB reports as "No space left on device".
  void NoSpace(bool on) { no_space_.store(on); }
  // Turns every switch off.
  void ClearFaults();

  // Operations failed on purpose so far (a test asserts the fault was actually hit).
  uint64_t injected() const { return injected_.load(); }

  // Truncates every file written through this file system to the bytes last synced (files
  // never synced become empty). REQUIRES: no database is open on these files.
  rocksdb::IOStatus DropUnsyncedData();

  // Fault checks, used by the file wrappers: OK, or the injected error (counted).
  rocksdb::IOStatus CheckWrite();
  rocksdb::IOStatus CheckSync();
  rocksdb::IOStatus CheckRead();

  // Size bookkeeping for DropUnsyncedData, used by the file wrappers.
  void NoteSize(const std::string& fname, uint64_t size);
  void NoteSynced(const std::string& fname);

  rocksdb::IOStatus NewSequentialFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                      std::unique_ptr<rocksdb::FSSequentialFile>* result,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewRandomAccessFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                        std::unique_ptr<rocksdb::FSRandomAccessFile>* result,
                                        rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                      const rocksdb::FileOptions& opts,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& src, const std::string& target,
                               const rocksdb::IOOptions& opts,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& fname, const rocksdb::IOOptions& opts,
                               rocksdb::IODebugContext* dbg) override;

 private:
  struct Sizes {
    uint64_t size = 0;    // bytes written
    uint64_t synced = 0;  // bytes known durable
  };
  // Wraps a newly opened writable file whose current size is `size`.
  std::unique_ptr<rocksdb::FSWritableFile> Track(const std::string& fname,
                                                 std::unique_ptr<rocksdb::FSWritableFile> file,
                                                 uint64_t size, uint64_t synced);

  std::atomic<bool> fail_writes_{false};
  std::atomic<bool> fail_syncs_{false};
  std::atomic<bool> fail_reads_{false};
  std::atomic<bool> no_space_{false};
  std::atomic<uint64_t> injected_{0};
  std::mutex mu_;
  std::map<std::string, Sizes> files_;  // GUARDED_BY(mu_)
};

}  // namespace fedge::storage
