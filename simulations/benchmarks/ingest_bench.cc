// ingest_bench: the coordinator's real ingest path end to end — update bytes received over
// mutual TLS, verified, decoded, durably stored (synced RocksDB) and folded per second — against
// a plain TLS 1.3 bulk transfer of the same frames over loopback with the same TLS contexts,
// measured in the same run (reference, ingest, reference). Then a per-update breakdown of the
// coordinator's work, measured one component at a time on the same update bytes.
//
// A real coordinator::Server runs in this process on 127.0.0.1 with a freshly provisioned PKI;
// N clients (threads with blocking TLS connections) answer R training rounds each with a
// pre-built update of the coordinator's model layout. Prints figures and a ratio; exits non-zero
// only when something fails or the coordinator's store is wrong, never on a ratio.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "coordinator/config.h"
#include "coordinator/fedavg.h"
#include "coordinator/kit_config.h"
#include "coordinator/ml_backend.h"
#include "coordinator/server.h"
#include "shared/base/log.h"
#include "shared/codec/bundle_codec.h"
#include "shared/crypto/pki.h"
#include "shared/ml/torch/model.h"
#include "shared/ml/torch/runtime.h"
#include "shared/net/blob.h"
#include "shared/net/frame.h"
#include "shared/net/wire.h"
#include "simulations/benchmarks/ingest_bench_net.h"
#include "simulations/benchmarks/ingest_breakdown.h"

namespace fedge::sim {
namespace {

using shared::Result;
using shared::Status;
using Clock = std::chrono::steady_clock;

constexpr char kName[] = "ingest_bench";
constexpr char kArch[] = "cnn_small";  // the largest (and only) architecture in the model zoo

struct Options {
  int clients = 8;
  int rounds = 30;
  std::string work_dir;
  int breakdown_updates = 96;
  int reference_reps = 3;  // reference runs before and after the ingest run
  int timeout_seconds = 1200;
  std::string log_level = "warn";
  bool keep = false;
};

// Ends the process if the benchmark hangs (a broken connection can block a blocking client).
class Watchdog {
 public:
  explicit Watchdog(int seconds)
      : thread_([this, seconds] {
          std::unique_lock<std::mutex> lock(mu_);
          if (!cv_.wait_for(lock, std::chrono::seconds(seconds), [this] { return done_; })) {
            std::fprintf(stderr, "%s: no result after %d s (--timeout); giving up\n", kName,
                         seconds);
            std::_Exit(3);
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;  // guarded by mu_
  std::thread thread_;
};

// Client c's update for round r, ready to send before the clock starts.
struct PreparedUpdate {
  shared::Digest digest{};
  uint64_t blob_size = 0;
  uint64_t examples = 0;
  std::vector<std::vector<uint8_t>> chunk_frames;  // complete frames: header + BlobChunk
};

Result<std::vector<std::vector<PreparedUpdate>>> PrepareUpdates(const shared::TensorBundle& layout,
                                                                const Options& o) {
  std::vector<std::vector<PreparedUpdate>> all(static_cast<size_t>(o.clients));
  for (int c = 0; c < o.clients; ++c) {
    for (int r = 1; r <= o.rounds; ++r) {
      PreparedUpdate p;
      shared::TensorBundle update = layout;
      p.examples = FillIngestUpdate(c, r, &update);
      FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> blob, shared::EncodeBundle(update));
      p.digest = shared::Sha256(blob);
      p.blob_size = blob.size();
      for (const shared::ChunkRange& range :
           shared::ChunkRanges(blob.size(), 0, shared::kDefaultChunkBytes)) {
        p.chunk_frames.push_back(shared::EncodeFrame(shared::MakeBlobChunk(
            wire::BlobKind::Update, p.digest, blob.size(), range.offset,
            std::span<const uint8_t>(blob.data() + range.offset, range.size))));
      }
      all[static_cast<size_t>(c)].push_back(std::move(p));
    }
  }
  return all;
}

// Reads the next message that is not a Heartbeat; it must be a `type` (an Error becomes its
// status).
Result<std::vector<uint8_t>> Expect(BenchTlsClient* client, wire::Message type, const char* what) {
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> frame,
                         client->ReadMessage(shared::kDefaultMaxFrameBytes));
  const wire::Envelope* env = wire::GetEnvelope(frame.data());  // verified by ReadMessage
  if (const wire::Error* e = env->message_as_Error()) {
    return Status(shared::FromWireCode(e->code()),
                  std::string("coordinator answered Error while waiting for ") + what + ": " +
                      e->message()->str());
  }
  if (env->message_type() != type) {
    return Status::Internal(std::string("expected ") + what + ", got " +
                            wire::EnumNameMessage(env->message_type()));
  }
  return frame;
}

// One update's timing: first byte of its UpdateSubmit to the arrival of its Ack.
struct Interval {
  Clock::time_point start;
  Clock::time_point end;
};

// A client's whole session: Hello/Welcome, then per round TaskOffer -> UpdateSubmit ->
// BlobRequest -> BlobChunk(s) -> Ack.
Status RunIngestClient(BenchTlsClient* client, int index,
                       const std::vector<PreparedUpdate>& updates, std::vector<Interval>* timings) {
  flatbuffers::FlatBufferBuilder hello(128);
  auto software = hello.CreateString("ingest_bench");
  FEDGE_RETURN_IF_ERROR(client->WriteFrame(shared::FinishEnvelope(
      hello, wire::CreateHello(hello, shared::kProtocolVersion, shared::kProtocolVersion, software,
                               1000, 0))));
  FEDGE_RETURN_IF_ERROR(Expect(client, wire::Message::Welcome, "Welcome").status());
  for (const PreparedUpdate& u : updates) {
    FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> offer_frame,
                           Expect(client, wire::Message::TaskOffer, "TaskOffer"));
    const wire::TaskOffer* offer = wire::GetEnvelope(offer_frame.data())->message_as_TaskOffer();
    if (offer->kind() != wire::TaskKind::Train) {
      return Status::Internal("expected a training task (evaluation is off)");
    }
    const uint64_t task = offer->task_id();
    flatbuffers::FlatBufferBuilder fbb(256);
    auto id = fbb.CreateString("bench-" + std::to_string(index) + "-" + std::to_string(task));
    auto digest = fbb.CreateVector(u.digest.data(), u.digest.size());
    auto submit = shared::FinishEnvelope(
        fbb, wire::CreateUpdateSubmit(fbb, task, offer->round(), id, u.examples, 0,
                                      wire::Codec::Fp32, digest, u.blob_size));
    Interval t;
    t.start = Clock::now();
    FEDGE_RETURN_IF_ERROR(client->WriteFrame(submit));
    FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> req_frame,
                           Expect(client, wire::Message::BlobRequest, "BlobRequest"));
    const wire::BlobRequest* req = wire::GetEnvelope(req_frame.data())->message_as_BlobRequest();
    if (req->kind() != wire::BlobKind::Update || req->offset() != 0) {
      return Status::Internal("expected a BlobRequest for the whole update, got offset " +
                              std::to_string(req->offset()));
    }
    for (const std::vector<uint8_t>& frame : u.chunk_frames) {
      FEDGE_RETURN_IF_ERROR(client->Write(frame));
    }
    FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> ack_frame,
                           Expect(client, wire::Message::Ack, "Ack"));
    t.end = Clock::now();
    if (wire::GetEnvelope(ack_frame.data())->message_as_Ack()->task_id() != task) {
      return Status::Internal("Ack for another task");
    }
    timings->push_back(t);
  }
  return Status::Ok();
}

struct IngestResult {
  double busy_seconds = 0;  // union of all [first byte, Ack] intervals
  double span_seconds = 0;  // first byte of the first update to the last Ack
  double median_ms = 0;
  double p90_ms = 0;
  uint64_t updates = 0;
  uint64_t wire_bytes_in = 0;  // frames the coordinator read (all kinds)
  std::string cipher;
};

void Summarise(std::vector<Interval> all, IngestResult* out) {
  std::sort(all.begin(), all.end(),
            [](const Interval& a, const Interval& b) { return a.start < b.start; });
  std::vector<double> latency;
  Clock::time_point cur_start = all.front().start, cur_end = all.front().end, last = cur_end;
  double busy = 0;
  for (const Interval& i : all) {
    latency.push_back(std::chrono::duration<double, std::milli>(i.end - i.start).count());
    last = std::max(last, i.end);
    if (i.start > cur_end) {
      busy += std::chrono::duration<double>(cur_end - cur_start).count();
      cur_start = i.start;
    }
    cur_end = std::max(cur_end, i.end);
  }
  busy += std::chrono::duration<double>(cur_end - cur_start).count();
  std::sort(latency.begin(), latency.end());
  out->busy_seconds = busy;
  out->span_seconds = std::chrono::duration<double>(last - all.front().start).count();
  out->median_ms = latency[latency.size() / 2];
  out->p90_ms = latency[latency.size() * 9 / 10];
  out->updates = all.size();
}

// Every round 1..R made one model version with every client as a contributor, and the last one
// is, bit for bit, the FedAvg of the last round's updates.
Status CheckStore(coordinator::Store& store, const shared::TensorBundle& layout, const Options& o) {
  FEDGE_ASSIGN_OR_RETURN(std::vector<coordinator::ModelRecord> models, store.ListModels());
  std::vector<int> per_round(static_cast<size_t>(o.rounds) + 1, 0);
  const coordinator::ModelRecord* last = nullptr;
  for (const coordinator::ModelRecord& m : models) {
    if (m.origin != "round") continue;
    if (m.round < 1 || m.round > static_cast<uint64_t>(o.rounds) ||
        m.contributors.size() != static_cast<size_t>(o.clients)) {
      return Status::Internal("model version " + std::to_string(m.version) + " (round " +
                              std::to_string(m.round) + ") has " +
                              std::to_string(m.contributors.size()) + " contributors");
    }
    ++per_round[m.round];
    if (m.round == static_cast<uint64_t>(o.rounds)) last = &m;
  }
  for (int r = 1; r <= o.rounds; ++r) {
    if (per_round[static_cast<size_t>(r)] != 1) {
      return Status::Internal("round " + std::to_string(r) + " has " +
                              std::to_string(per_round[static_cast<size_t>(r)]) +
                              " model versions, expected 1");
    }
  }
  coordinator::FedAvgAccumulator acc(layout);
  for (int c = 0; c < o.clients; ++c) {
    shared::TensorBundle update = layout;
    uint64_t examples = FillIngestUpdate(c, o.rounds, &update);
    FEDGE_RETURN_IF_ERROR(acc.Fold(std::move(update), examples));
  }
  FEDGE_ASSIGN_OR_RETURN(shared::TensorBundle mean, acc.Finalize());
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> blob, shared::EncodeBundle(mean));
  if (shared::ToHex(shared::Sha256(blob)) != last->digest_hex) {
    return Status::Internal("the last round's model is not the FedAvg of its updates");
  }
  return Status::Ok();
}

Result<IngestResult> RunIngest(coordinator::CoordinatorConfig config,
                               const std::vector<shared::TlsFiles>& client_files,
                               const std::vector<std::vector<PreparedUpdate>>& updates,
                               const shared::TensorBundle& layout, const Options& o) {
  std::vector<std::unique_ptr<net::ssl::context>> ctx;
  for (const shared::TlsFiles& files : client_files) {
    FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<net::ssl::context> c,
                           shared::MakeClientTlsContext(files));
    ctx.push_back(std::move(c));
  }
  coordinator::Server server(std::move(config), coordinator::TorchInitialModel);
  FEDGE_RETURN_IF_ERROR(server.Start());
  // No early return from here until both kinds of threads are joined.
  std::thread server_thread([&server] { server.Run(/*exit_when_done=*/true); });
  const size_t n = client_files.size();
  std::vector<Status> status(n);
  std::vector<std::vector<Interval>> timings(n);
  std::vector<std::string> ciphers(n);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      BenchTlsClient client(ctx[i].get());
      status[i] = client.Connect(server.port());
      if (status[i].ok()) {
        ciphers[i] = client.CipherDescription();
        status[i] = RunIngestClient(&client, static_cast<int>(i), updates[i], &timings[i]);
      }
      client.Close();
      if (!status[i].ok()) server.Stop();  // the rounds cannot finish without this client
    });
  }
  for (auto& t : threads) t.join();
  server_thread.join();
  for (size_t i = 0; i < n; ++i) {
    FEDGE_RETURN_IF_ERROR(status[i].WithContext("client " + std::to_string(i)));
  }
  IngestResult result;
  result.wire_bytes_in = server.traffic()->bytes_in.load();
  result.cipher = ciphers[0];
  std::vector<Interval> all;
  for (const auto& t : timings) all.insert(all.end(), t.begin(), t.end());
  Summarise(std::move(all), &result);
  FEDGE_RETURN_IF_ERROR(CheckStore(server.store(), layout, o).WithContext("store check"));
  return result;
}

double Mb(uint64_t bytes) { return static_cast<double>(bytes) / 1e6; }

// Fraction of all CPUs busy over `seconds` (from /proc/stat); negative if unreadable.
double MachineBusy(double seconds) {
  auto sample = [](uint64_t* busy, uint64_t* total) {
    std::FILE* f = std::fopen("/proc/stat", "r");
    if (f == nullptr) return false;
    unsigned long long v[8] = {};
    int got = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                          &v[3], &v[4], &v[5], &v[6], &v[7]);
    std::fclose(f);
    if (got != 8) return false;
    *total = 0;
    for (unsigned long long x : v) *total += x;
    *busy = *total - v[3] - v[4];  // minus idle and iowait
    return true;
  };
  uint64_t b0, t0, b1, t1;
  if (!sample(&b0, &t0)) return -1;
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  if (!sample(&b1, &t1) || t1 == t0) return -1;
  return static_cast<double>(b1 - b0) / static_cast<double>(t1 - t0);
}

// The provisioned project: the coordinator's config (rounds set for the benchmark) and the
// client kits' TLS files.
struct Setup {
  coordinator::CoordinatorConfig config;
  std::vector<shared::TlsFiles> client_files;
};

Result<Setup> MakeSetup(const Options& o, const std::string& work) {
  shared::ProvisionOptions po;
  po.templates = *coordinator::ProjectKitTemplates();
  po.out_dir = work + "/pki";
  po.clients = o.clients;
  po.coordinator_hosts = {"localhost", "127.0.0.1"};
  po.force = true;
  FEDGE_ASSIGN_OR_RETURN(shared::ProvisionResult kits, shared::Provision(po));
  Setup s;
  FEDGE_ASSIGN_OR_RETURN(
      s.config, coordinator::LoadCoordinatorConfig(kits.coordinator_kit + "/coordinator.toml"));
  s.config.listen = "127.0.0.1";
  s.config.port = 0;
  s.config.data_dir = work + "/coordinator-data";
  s.config.model_arch = kArch;
  s.config.rounds.count = o.rounds;
  s.config.rounds.min_clients = o.clients;
  s.config.rounds.min_fit = o.clients;
  s.config.rounds.fraction_fit = 1.0;
  s.config.rounds.evaluate = false;
  s.config.rounds.timeout_seconds = 3600;
  for (const std::string& kit : kits.client_kits) {
    s.client_files.push_back({kit + "/ca.crt", kit + "/client.crt", kit + "/client.key"});
  }
  return s;
}

// Runs the reference `reps` times, printing each; appends MB/s of update bytes to `mbs`.
Status RunReferences(const Setup& setup,
                     const std::vector<std::vector<std::span<const uint8_t>>>& frames,
                     uint64_t blob_bytes, int reps, std::vector<double>* mbs, std::string* cipher) {
  for (int i = 0; i < reps; ++i) {
    FEDGE_ASSIGN_OR_RETURN(BulkResult r,
                           RunTlsBulkReference(setup.config.tls, setup.client_files, frames));
    mbs->push_back(Mb(blob_bytes) / r.seconds);
    *cipher = r.cipher;
    std::printf("  reference TLS bulk: %.1f MB in %.3f s = %.1f MB/s (%.1f MB of frames)\n",
                Mb(blob_bytes), r.seconds, mbs->back(), Mb(r.frame_bytes));
    std::fflush(stdout);
  }
  return Status::Ok();
}

void PrintIngest(const IngestResult& r, uint64_t blob_bytes, int rounds) {
  std::printf(
      "  coordinator ingest: %.1f MB in %.3f s with updates in flight = %.1f MB/s (%llu updates "
      "acknowledged; per update first byte->Ack median %.2f ms, p90 %.2f ms)\n",
      Mb(blob_bytes), r.busy_seconds, Mb(blob_bytes) / r.busy_seconds,
      static_cast<unsigned long long>(r.updates), r.median_ms, r.p90_ms);
  std::printf(
      "    whole run incl. round turnover: %.3f s = %.1f MB/s (%.1f ms per round between the "
      "last Ack and the next round's first byte); coordinator read %.1f MB of frames\n",
      r.span_seconds, Mb(blob_bytes) / r.span_seconds,
      1e3 * (r.span_seconds - r.busy_seconds) / std::max(1, rounds - 1), Mb(r.wire_bytes_in));
  std::fflush(stdout);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

Status RunAll(const Options& o, const std::string& work) {
  FEDGE_ASSIGN_OR_RETURN(Setup setup, MakeSetup(o, work));
  FEDGE_ASSIGN_OR_RETURN(ml::Model model, ml::Model::Create(kArch, setup.config.model_seed));
  const shared::TensorBundle layout = model.State();
  FEDGE_ASSIGN_OR_RETURN(std::vector<std::vector<PreparedUpdate>> updates,
                         PrepareUpdates(layout, o));
  uint64_t blob_bytes = 0;
  std::vector<std::vector<std::span<const uint8_t>>> frames(updates.size());
  for (size_t c = 0; c < updates.size(); ++c) {
    for (const PreparedUpdate& u : updates[c]) {
      blob_bytes += u.blob_size;
      for (const auto& f : u.chunk_frames) frames[c].emplace_back(f);
    }
  }
  std::printf(
      "%s: %d clients x %d rounds of %s updates (%lld parameters, %llu-byte blob in %zu "
      "BlobChunk frame(s) of <= %u bytes): %.1f MB of update bytes\n",
      kName, o.clients, o.rounds, kArch, static_cast<long long>(layout.NumElements()),
      static_cast<unsigned long long>(updates[0][0].blob_size), updates[0][0].chunk_frames.size(),
      shared::kDefaultChunkBytes, Mb(blob_bytes));
  std::printf(
      "CPUs: %ld online, shared by everything in this process: the coordinator (%d network "
      "threads; its engine strand runs on them; 2 ingest-pool threads decode and store) and %d "
      "client threads; the reference: %d "
      "client and %d server threads\n",
      ::sysconf(_SC_NPROCESSORS_ONLN), setup.config.threads, o.clients, o.clients, o.clients);
  if (double busy = MachineBusy(1.0); busy >= 0) {
    std::printf("CPU use by other processes in the second before the run: %.0f%%%s\n", 100 * busy,
                busy > 0.15 ? " (busy machine: the figures are noisy; rerun idle)" : "");
  }
  std::fflush(stdout);

  std::vector<double> ref_mbs;
  std::string ref_cipher;
  FEDGE_RETURN_IF_ERROR(
      RunReferences(setup, frames, blob_bytes, o.reference_reps, &ref_mbs, &ref_cipher));
  FEDGE_ASSIGN_OR_RETURN(IngestResult ingest,
                         RunIngest(setup.config, setup.client_files, updates, layout, o));
  PrintIngest(ingest, blob_bytes, o.rounds);
  FEDGE_RETURN_IF_ERROR(
      RunReferences(setup, frames, blob_bytes, o.reference_reps, &ref_mbs, &ref_cipher));
  const double ingest_mbs = Mb(blob_bytes) / ingest.busy_seconds;
  const double ref = Median(ref_mbs);
  std::printf("cipher suite: coordinator %s; reference %s%s\n", ingest.cipher.c_str(),
              ref_cipher.c_str(), ingest.cipher == ref_cipher ? " (same)" : " (DIFFERENT)");
  std::printf(
      "store check: %d new model versions, one per round, each from %d clients; the last "
      "equals the FedAvg of its updates bit for bit: OK\n",
      o.rounds, o.clients);
  std::printf(
      "ingest %.1f MB/s / TLS bulk %.1f MB/s (median of %zu runs, %.1f..%.1f) = ratio %.2f "
      "(target >= 0.7: %s)\n",
      ingest_mbs, ref, ref_mbs.size(), *std::min_element(ref_mbs.begin(), ref_mbs.end()),
      *std::max_element(ref_mbs.begin(), ref_mbs.end()), ingest_mbs / ref,
      ingest_mbs / ref >= 0.7 ? "meets target" : "MISSES target");
  std::fflush(stdout);

  BreakdownInput in;
  in.layout = &layout;
  in.updates = o.breakdown_updates;
  in.clients = o.clients;
  in.dir = work + "/breakdown";
  in.ingest_mbs = ingest_mbs;
  in.tls_mbs = ref;
  return RunBreakdown(in).WithContext("breakdown");
}

int Run(const Options& o) {
  Watchdog watchdog(o.timeout_seconds);
  const std::string work = o.work_dir.empty()
                               ? (std::filesystem::temp_directory_path() /
                                  ("fedge-ingest-bench-" + std::to_string(::getpid())))
                                     .string()
                               : o.work_dir;
  Status s = RunAll(o, work);
  if (!o.keep) {
    std::error_code ec;
    std::filesystem::remove_all(work, ec);
  }
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", kName, s.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace fedge::sim

int main(int argc, char** argv) {
  fedge::sim::Options o;
  CLI::App app{"ingest_bench: coordinator update ingest over mTLS vs plain TLS 1.3 bulk"};
  app.add_option("--clients", o.clients, "concurrent clients (threads)")->check(CLI::Range(1, 64));
  app.add_option("--rounds", o.rounds, "training rounds (one update per client each)")
      ->check(CLI::Range(1, 10000));
  app.add_option("--work-dir", o.work_dir, "PKI and RocksDB directory (default: a temp dir)");
  app.add_option("--breakdown-updates", o.breakdown_updates, "updates per breakdown component")
      ->check(CLI::Range(2, 1000));
  app.add_option("--reference-reps", o.reference_reps,
                 "reference runs before and after the ingest run")
      ->check(CLI::Range(1, 100));
  app.add_option("--timeout", o.timeout_seconds, "give up (exit 3) after this many seconds");
  app.add_option("--log-level", o.log_level, "coordinator log level: debug, info, warn, error");
  app.add_flag("--keep", o.keep, "keep the work directory");
  CLI11_PARSE(app, argc, argv);
  fedge::shared::LogLevel level;
  if (!fedge::shared::ParseLogLevel(o.log_level, &level)) {
    std::fprintf(stderr, "ingest_bench: --log-level must be debug, info, warn or error\n");
    return 2;
  }
  fedge::shared::SetLogLevel(level);
  fedge::ml::ConfigureRuntime(1);  // as coordinator/main.cc does
  return fedge::sim::Run(o);
}
