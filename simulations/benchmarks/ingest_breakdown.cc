#include "simulations/benchmarks/ingest_breakdown.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>
#include <vector>

#include "coordinator/fedavg.h"
#include "coordinator/store.h"
#include "shared/codec/bundle_codec.h"
#include "shared/net/blob.h"
#include "shared/net/frame.h"
#include "shared/net/wire.h"

namespace fedge::sim {

using shared::Result;
using shared::Status;
using Clock = std::chrono::steady_clock;

uint64_t FillIngestUpdate(int client, int round, shared::TensorBundle* update) {
  uint64_t state = (static_cast<uint64_t>(client) << 32) ^ static_cast<uint64_t>(round);
  auto next = [&state] {  // SplitMix64
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  for (shared::Tensor& t : update->tensors) {
    for (float& v : t.data) {
      v = static_cast<float>(static_cast<double>(next() >> 11) * 0x1p-53 * 0.2 - 0.1);
    }
  }
  return 100 + next() % 400;
}

namespace {

// One update as the coordinator holds it: the blob and its chunk frames' payloads.
struct Sample {
  std::vector<uint8_t> blob;
  shared::Digest digest{};
  uint64_t examples = 0;
  std::vector<std::vector<uint8_t>> chunk_payloads;  // BlobChunk envelopes
  shared::TensorBundle decoded;
};

struct Row {
  std::string name;
  std::string where;  // the coordinator thread that runs it, or what the row is for
  double ms = 0;      // per update
};

// Milliseconds per update of fn(i) over n samples; stops at the first error.
Result<double> Time(size_t n, const std::function<Status(size_t)>& fn) {
  auto t0 = Clock::now();
  for (size_t i = 0; i < n; ++i) FEDGE_RETURN_IF_ERROR(fn(i));
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count() /
         static_cast<double>(n);
}

Result<double> TimeFileWrites(const std::string& path, const std::vector<Sample>& samples,
                              bool sync) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError("open " + path + ": " + std::strerror(errno));
  Result<double> ms = Time(samples.size(), [&](size_t i) -> Status {
    const std::vector<uint8_t>& b = samples[i].blob;
    if (::write(fd, b.data(), b.size()) != static_cast<ssize_t>(b.size())) {
      return Status::IOError("write " + path + ": " + std::strerror(errno));
    }
    if (sync && ::fdatasync(fd) != 0) {
      return Status::IOError("fdatasync " + path + ": " + std::strerror(errno));
    }
    return Status::Ok();
  });
  ::close(fd);
  return ms;
}

coordinator::UpdateRecord RecordFor(uint64_t round, size_t i, const Sample& s) {
  coordinator::UpdateRecord r;
  r.round = round;
  r.client_id = "site-" + std::to_string(i);
  r.task_id = round * 1000000000ull + i;
  r.idempotency_id = "breakdown-" + std::to_string(round) + "-" + std::to_string(i);
  r.examples = s.examples;
  r.loss = 0.5;
  r.blob_digest_hex = shared::ToHex(s.digest);
  r.received_ms = shared::UnixMillis();
  return r;
}

// Wall milliseconds per update when `writers` threads store the samples at once (as round
// `round`), so RocksDB can commit concurrent synced writes as one group (one WAL write, one sync).
Result<double> TimeConcurrentAccepts(coordinator::Store* store, const std::vector<Sample>& samples,
                                     const coordinator::OpenRound& open_round, int writers,
                                     uint64_t round) {
  std::vector<Status> status(static_cast<size_t>(writers));
  std::vector<std::thread> threads;
  auto t0 = Clock::now();
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      for (size_t i = static_cast<size_t>(w); i < samples.size();
           i += static_cast<size_t>(writers)) {
        Status s =
            store->AcceptUpdate(RecordFor(round, i, samples[i]), samples[i].blob, open_round);
        if (!s.ok()) {
          status[static_cast<size_t>(w)] = s;
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const Status& s : status) FEDGE_RETURN_IF_ERROR(s);
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count() /
         static_cast<double>(samples.size());
}

coordinator::OpenRound OpenRoundLike(int clients) {
  coordinator::OpenRound open;
  open.round = 1;
  for (int c = 0; c < clients; ++c) open.tasks["site-" + std::to_string(c)] = 1000000000ull + c;
  open.started_ms = shared::UnixMillis();
  return open;
}

Result<std::vector<Sample>> MakeSamples(const BreakdownInput& in) {
  std::vector<Sample> samples(static_cast<size_t>(in.updates));
  for (size_t i = 0; i < samples.size(); ++i) {
    Sample& s = samples[i];
    shared::TensorBundle update = *in.layout;
    s.examples =
        FillIngestUpdate(static_cast<int>(i) % in.clients, 100000 + static_cast<int>(i), &update);
    FEDGE_ASSIGN_OR_RETURN(s.blob, shared::EncodeBundle(update));
    s.digest = shared::Sha256(s.blob);
    for (const shared::ChunkRange& r :
         shared::ChunkRanges(s.blob.size(), 0, shared::kDefaultChunkBytes)) {
      s.chunk_payloads.push_back(
          shared::MakeBlobChunk(wire::BlobKind::Update, s.digest, s.blob.size(), r.offset,
                                std::span<const uint8_t>(s.blob.data() + r.offset, r.size)));
    }
  }
  return samples;
}

double MsOf(const std::vector<Row>& rows, const std::string& name) {
  for (const Row& r : rows) {
    if (r.name == name) return r.ms;
  }
  return 0;
}

void PrintSummary(const std::vector<Row>& rows, double mb, const BreakdownInput& in) {
  // The coordinator's pipeline: the upload is verified on its connection's network thread;
  // decoding and the synced write run on the engine's ingest pool (2 threads); validation and
  // the fold run on the engine strand.
  double engine = 0, network = 0, pool = 0;
  for (const Row& r : rows) {
    if (r.where == "engine") engine += r.ms;
    if (r.where == "network") network += r.ms;
    if (r.where == "ingest pool") pool += r.ms;
  }
  const double store = MsOf(rows, "Store::AcceptUpdate (synced)");
  const double grouped = MsOf(rows, "Store::AcceptUpdate, concurrent");
  const double tls_ms = 1e3 * mb / in.tls_mbs;  // one update at the reference's rate
  std::printf(
      "  per update: network thread %.2f ms; ingest pool %.2f ms, of which the synced write "
      "%.2f ms (%.0f%%); engine strand %.2f ms; TLS at the reference rate %.2f ms\n",
      network, pool, store, 100 * store / pool, engine, tls_ms);
  std::printf(
      "  ceilings: engine strand %.1f MB/s; ingest pool (2 threads, writes grouped as in the "
      "concurrent row) %.1f MB/s; measured ingest %.1f MB/s; TLS bulk %.1f MB/s\n",
      mb / (engine / 1e3), mb / ((pool - store + grouped) / 2 / 1e3), in.ingest_mbs, in.tls_mbs);
  const double disk = mb / (MsOf(rows, "raw file append + fdatasync") / 1e3);
  std::printf(
      "  disk bound: syncing every update's bytes before its Ack cannot beat %.1f MB/s "
      "(raw append + fdatasync) = %.2f of TLS bulk here\n",
      disk, disk / in.tls_mbs);
  // The reference keeps every CPU busy, so one update's TLS costs cpus x its wall time; the
  // coordinator's own work adds CPU time on the same cores (the store counted as its copy).
  const double cpus = static_cast<double>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)));
  const double own_ms = network + engine + pool - store + MsOf(rows, "raw file append, no sync");
  const double cpu_mbs = mb / ((cpus * tls_ms + own_ms) / cpus / 1e3);
  std::printf(
      "  CPU bound: TLS (%.2f CPU-ms) + the coordinator's own work (%.2f CPU-ms) per "
      "update on %.0f shared CPUs cannot beat %.1f MB/s = %.2f of TLS bulk, even "
      "perfectly pipelined with a free disk\n",
      cpus * tls_ms, own_ms, cpus, cpu_mbs, cpu_mbs / in.tls_mbs);
}

}  // namespace

Status RunBreakdown(const BreakdownInput& in) {
  std::error_code ec;
  std::filesystem::remove_all(in.dir, ec);
  std::filesystem::create_directories(in.dir, ec);
  if (ec) return Status::IOError("cannot create " + in.dir + ": " + ec.message());
  FEDGE_ASSIGN_OR_RETURN(std::vector<Sample> samples, MakeSamples(in));
  const size_t n = samples.size();
  const double mb = static_cast<double>(samples[0].blob.size()) / 1e6;
  shared::DecodeLimits limits;
  limits.max_elements = static_cast<uint64_t>(in.layout->NumElements());
  limits.max_tensors = in.layout->tensors.size();
  coordinator::FedAvgAccumulator acc(*in.layout);
  FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<coordinator::Store> store,
                         coordinator::Store::Open(in.dir + "/store"));
  const coordinator::OpenRound open_round = OpenRoundLike(in.clients);
  std::vector<Row> rows;
  auto add = [&](const char* name, const char* where, Result<double> ms) -> Status {
    FEDGE_RETURN_IF_ERROR(ms.status().WithContext(name));
    rows.push_back({name, where, *ms});
    return Status::Ok();
  };

  FEDGE_RETURN_IF_ERROR(add("VerifyEnvelope(BlobChunk)", "network", Time(n, [&](size_t i) {
                              for (const auto& p : samples[i].chunk_payloads) {
                                FEDGE_RETURN_IF_ERROR(shared::VerifyEnvelope(p).status());
                              }
                              return Status::Ok();
                            })));
  FEDGE_RETURN_IF_ERROR(
      add("BlobAssembler (copy + SHA-256)", "network", Time(n, [&](size_t i) {
            const Sample& s = samples[i];
            shared::BlobAssembler a(s.blob.size() * 2);
            FEDGE_RETURN_IF_ERROR(a.Begin(s.digest, s.blob.size()));
            for (const auto& p : s.chunk_payloads) {
              const wire::BlobChunk* c = wire::GetEnvelope(p.data())->message_as_BlobChunk();
              FEDGE_RETURN_IF_ERROR(a.Append(s.digest, c->total_size(), c->offset(),
                                             std::span(c->data()->data(), c->data()->size())));
            }
            if (!a.complete()) return Status::Internal("blob not complete");
            std::vector<uint8_t> taken = a.Take();
            return Status::Ok();
          })));
  FEDGE_RETURN_IF_ERROR(add("DecodeBundle", "ingest pool", Time(n, [&](size_t i) -> Status {
                              FEDGE_ASSIGN_OR_RETURN(samples[i].decoded,
                                                     shared::DecodeBundle(samples[i].blob, limits));
                              return Status::Ok();
                            })));
  FEDGE_RETURN_IF_ERROR(add("FedAvgAccumulator::Validate", "engine", Time(n, [&](size_t i) {
                              return acc.Validate(samples[i].decoded, samples[i].examples);
                            })));
  FEDGE_RETURN_IF_ERROR(add("Store::AcceptUpdate (synced)", "ingest pool", Time(n, [&](size_t i) {
                              return store->AcceptUpdate(RecordFor(1, i, samples[i]),
                                                         samples[i].blob, open_round);
                            })));
  FEDGE_RETURN_IF_ERROR(add("FedAvgAccumulator::Fold", "engine", Time(n, [&](size_t i) {
                              return acc.Fold(std::move(samples[i].decoded), samples[i].examples);
                            })));
  // The same synced batch with a 1 KB blob: the part of a write that does not grow with size.
  const std::vector<uint8_t> small(1024, 0x5a);
  FEDGE_RETURN_IF_ERROR(add("Store::AcceptUpdate, 1 KB blob", "(sync only)", Time(n, [&](size_t i) {
                              Sample tiny;
                              tiny.digest = shared::Sha256(small);
                              tiny.examples = 1;
                              return store->AcceptUpdate(RecordFor(2, i, tiny), small, open_round);
                            })));
  FEDGE_RETURN_IF_ERROR(add("Store::AcceptUpdate, concurrent", "(what-if)",
                            TimeConcurrentAccepts(store.get(), samples, open_round, in.clients,
                                                  /*round=*/3)));
  FEDGE_RETURN_IF_ERROR(add("raw file append + fdatasync", "(disk floor)",
                            TimeFileWrites(in.dir + "/raw", samples, /*sync=*/true)));
  FEDGE_RETURN_IF_ERROR(add("raw file append, no sync", "(disk floor)",
                            TimeFileWrites(in.dir + "/raw", samples, /*sync=*/false)));

  std::printf(
      "breakdown: %zu updates of %.3f MB, each component timed alone on one thread "
      "(\"concurrent\": %d writer threads at once)\n",
      n, mb, in.clients);
  std::printf("  %-32s %-13s %10s %10s\n", "component", "thread", "ms/update", "MB/s");
  for (const Row& r : rows) {
    std::printf("  %-32s %-13s %10.3f %10.1f\n", r.name.c_str(), r.where.c_str(), r.ms,
                mb / (r.ms / 1e3));
  }
  PrintSummary(rows, mb, in);
  return Status::Ok();
}

}  // namespace fedge::sim
