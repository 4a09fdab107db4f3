#pragma once
// Update ingest: the way of a client's update from its UploadIntent to its Ack. Checks (an open
// training round, the task offered to this client, a new idempotency id; a resend of an
// accepted one is acknowledged as a duplicate), bounds (blob size, example count), decoding on
// the ingest pool, validation on the strand, the synced write on the pool (durable before
// acknowledged) and the fold into the round's exact FedAvg accumulator on the strand.
//
// Owns: the open training round's accumulator, contributions and loss sum; the counters of
// ignored duplicates and rejected updates; the ingest thread pool (joined by the destructor).
// Borrows: the Store and the BlobService (must outlive it); the RoundSchedule and the base
// model given to Open() (must stay valid until Close(); the base changes only between rounds).
//
// Thread-safety: every method REQUIRES the strand given to the constructor, except the
// counters, which any thread may read. Invariants: an update is folded at most once (its
// idempotency id is accepted in the schedule when it is folded); the schedule's Drained() is
// false while an update is being decoded or stored, and the engine does not close a round
// before it drains.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "coordinator/blob_service.h"
#include "coordinator/fedavg.h"
#include "coordinator/metrics.h"
#include "coordinator/peer.h"
#include "coordinator/robust_aggregation.h"
#include "coordinator/round_schedule.h"
#include "coordinator/site_defence.h"
#include "coordinator/store.h"
#include "shared/codec/bundle_codec.h"
#include "shared/codec/tensor_bundle.h"
#include "shared/crypto/crypto.h"
#include "shared/net/asio.h"
#include "shared/net/wire.h"

namespace fedge::coordinator {

// An UpdateSubmit received before its blob: may the client upload it?
struct UploadIntent {
  uint64_t task_id = 0;
  uint64_t round = 0;
  std::string idempotency_id;
  shared::Digest digest{};
  uint64_t size = 0;
  uint64_t offset = 0;  // bytes of this blob the coordinator already holds
};

struct UpdateIn {
  uint64_t task_id = 0;
  uint64_t round = 0;
  std::string idempotency_id;
  uint64_t examples = 0;
  std::vector<std::pair<std::string, double>> metrics;
  std::vector<uint8_t> blob;  // verified against `digest` by the transport
  shared::Digest digest{};
};

class UpdateIngest {
 public:
  struct Hooks {
    // The weight of a client's update in a round (DriftIntake::FoldWeight).
    std::function<uint64_t(const std::string& client_id, uint64_t round, uint64_t examples)>
        fold_weight;
    // The most examples `client_id` can have trained on in `round`: what its session registered
    // in its Hello x the round's epochs (x kMaxFocusRepeats when the round focuses it on drifted
    // frames); 0: it registered none. Unset: no cap (unit tests of other parts).
    std::function<uint64_t(const std::string& client_id, uint64_t round)> example_cap;
    std::function<void()> changed;  // the counters or the round's progress changed
    std::function<void()> wake;     // the round may be able to move on
    std::function<uint64_t()> now_ms = shared::UnixMillis;  // stamps stored updates
  };

  UpdateIngest(net::any_io_executor strand, Store* store, const BlobService* blobs, Hooks hooks,
               std::shared_ptr<CoordinatorMetrics> metrics);
  ~UpdateIngest();

  // REQUIRES: no update in flight (before the engine's Init).
  void set_metrics(std::shared_ptr<CoordinatorMetrics> metrics) { metrics_ = std::move(metrics); }

  // A round is open (training or evaluation) with `schedule`; with `base` non-null it is a
  // training round whose updates are deltas of `base` (whose blob has `base_digest`): an
  // empty accumulator starts.
  void Open(RoundSchedule* schedule, const shared::TensorBundle* base,
            const shared::Digest& base_digest);
  // The round ended or failed: drops the accumulator and the contributions.
  void Close();
  // Folds an update stored before a restart (RoundEngine::Init). REQUIRES: Open with a base.
  shared::Status Refold(const UpdateRecord& record, std::vector<uint8_t> blob);

  // Answers `peer`: Ack{duplicate}, Error{subject Update} (not wanted, too large) or a
  // BlobRequest from `intent.offset`.
  void OfferUpload(const std::shared_ptr<Peer>& peer, const UploadIntent& intent);
  // Checks, decodes, validates, stores and folds `update`; answers `peer` with Ack or Error.
  void Submit(std::shared_ptr<Peer> peer, UpdateIn update);

  // Whether an accumulator is open (a training round, fresh or resumed in training).
  bool aggregating() const { return acc_ != nullptr; }
  // No site's weight may exceed this share of the round's total weight ([rounds]
  // max_client_share, in millionths; 1000000 = no cap). REQUIRES: no round open.
  void set_max_share_ppm(uint32_t ppm) { max_share_ppm_ = ppm; }
  // Each update's change from the round's model is clipped to this L2 norm before it is
  // validated and folded ([rounds] max_update_norm; 0 = no bound). REQUIRES: no round open.
  void set_max_update_norm(double norm) { max_update_norm_ = norm; }
  // The round's strategy ([rounds] aggregation...) and the seed its buckets are drawn from
  // (mixed with the round). REQUIRES: no round open.
  void set_aggregation(const AggregationSettings& settings, uint64_t seed) {
    aggregation_ = settings;
    aggregation_seed_ = seed;
  }
  // Scores every update of a round at Finalize ([defence]; DefenceSettings::Scoring() reads
  // the updates back as a robust strategy does). REQUIRES: no round open.
  void set_defence(const DefenceSettings& settings) { defence_ = settings; }
  // The round's model. FedAvg: the weighted mean of the accepted updates, from the running
  // accumulator. When one site's weight is over max_share (ShareCap), or the strategy needs
  // every update at once (AggregationSettings::NeedsAllUpdates), the updates are read back from
  // the store (N x model size in memory) and aggregated again (the same bytes whatever their
  // order, and after a resume); capped_clients() then names the sites whose weight was cut,
  // selected_clients() multi_krum's choice and norm_clipped_clients() the sites the adaptive
  // norm bound scaled down. REQUIRES: aggregating().
  shared::Result<shared::TensorBundle> Finalize();
  const std::vector<std::string>& capped_clients() const { return capped_clients_; }
  const std::vector<std::string>& selected_clients() const { return selected_clients_; }
  const std::vector<std::string>& norm_clipped_clients() const { return norm_clipped_clients_; }
  // The last Finalize's update scores (sorted by site; empty unless scoring, or with fewer
  // than defence.min_updates updates).
  const std::vector<UpdateScore>& scores() const { return scores_; }
  const std::vector<Contribution>& contributions() const { return contributions_; }
  // Sum of reported loss times examples over the contributions that reported a finite loss.
  double loss_sum() const { return loss_sum_; }

  // Thread-safe counters.
  uint64_t duplicates_ignored() const { return duplicates_ignored_.load(); }
  uint64_t updates_rejected() const { return updates_rejected_.load(); }

 private:
  shared::Status CheckSubmission(const std::string& client_id, uint64_t round, uint64_t task_id,
                                 const std::string& idempotency_id, bool* duplicate);
  // `reason`: a reject:: constant (coordinator/metrics.h).
  void Reject(const std::shared_ptr<Peer>& peer, const UpdateIn& update,
              const shared::Status& status, const char* reason);
  void OnDecoded(std::shared_ptr<Peer> peer, UpdateIn update,
                 shared::Result<shared::TensorBundle> bundle);
  void OnStored(std::shared_ptr<Peer> peer, UpdateIn update, const UpdateRecord& record,
                shared::TensorBundle values, const shared::Status& stored);
  void Contribute(const std::string& client_id, uint64_t examples, double loss);
  // Caps u->examples by what the client registered; an error if it registered none.
  shared::Status CapExamples(const std::string& client_id, UpdateIn* u);
  shared::DecodeLimits Limits() const;
  // The round's model from all of its updates: the adaptive norm bound, then the strategy.
  shared::Result<shared::TensorBundle> Aggregate(std::vector<SiteUpdate> updates);
  // DecodeUpdate against the round's model, then the norm bound. Safe on the ingest pool.
  shared::Result<shared::TensorBundle> DecodeValues(std::span<const uint8_t> blob) const;

  net::any_io_executor strand_;
  Store* store_;
  const BlobService* blobs_;
  Hooks hooks_;
  std::shared_ptr<CoordinatorMetrics> metrics_;

  RoundSchedule* schedule_ = nullptr;           // the open round's, or null
  const shared::TensorBundle* base_ = nullptr;  // the model trained in the open round
  shared::Digest base_digest_{};
  std::unique_ptr<FedAvgAccumulator> acc_;
  std::vector<Contribution> contributions_;
  double loss_sum_ = 0;
  uint32_t max_share_ppm_ = 1000000;
  double max_update_norm_ = 0;
  AggregationSettings aggregation_;
  uint64_t aggregation_seed_ = 0;
  std::vector<std::string> selected_clients_;      // multi_krum's choice in the last Finalize
  std::vector<std::string> norm_clipped_clients_;  // the adaptive norm bound's, likewise
  std::vector<std::string> capped_clients_;
  DefenceSettings defence_;
  std::vector<UpdateScore> scores_;  // the last Finalize's
  std::atomic<uint64_t> duplicates_ignored_{0};
  std::atomic<uint64_t> updates_rejected_{0};
  // Decoding and synced writes of updates, off the strand and the network threads. Last
  // member: destroyed (joined) first, while everything its jobs touch is still alive.
  std::unique_ptr<net::asio::thread_pool> pool_;
};

}  // namespace fedge::coordinator
