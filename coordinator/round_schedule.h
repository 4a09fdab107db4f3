#pragma once
// Round scheduling as plain logic: which clients a training round samples, the task ids they
// are offered, who still owes an answer, quorum (rounds.min_fit), the deadline, idempotency ids
// already accepted, and the durable state a restart resumes from. No Asio and no clock: callers
// pass the current unix time in milliseconds, so tests drive time. The round engine
// (coordinator/round_engine.h) keeps the timers and asks a RoundSchedule what to do.
//
// Thread-safety: none; the engine uses its schedule on its strand only.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "coordinator/config.h"
#include "coordinator/records/open_round.h"
#include "shared/base/status.h"

namespace fedge::coordinator {

// Mixes two 64-bit values into a seed (splitmix64-style). Sampling and per-client training
// seeds derive from it; changing it changes every model trained.
uint64_t MixSeed(uint64_t a, uint64_t b);

// Task ids are derived from (round, attempt, kind, index), so they never repeat, survive a
// restart without being stored separately and make idempotency ids unique per attempt.
uint64_t MakeTaskId(uint64_t round, uint64_t attempt, bool train, uint64_t index);

// The clients a training round samples from `connected` (sorted by id): a seeded shuffle
// (rounds.seed, round, attempt), then every connected client in `favoured` (a drift campaign's
// drifted clients) first, then the first max(ceil(fraction_fit * n), favoured, min_fit) of
// them (at most n). The same inputs give the same sample, in the same order.
std::vector<std::string> SampleClients(const RoundSettings& settings, uint64_t round,
                                       uint64_t attempt, std::vector<std::string> connected,
                                       const std::vector<std::string>& favoured);

// RoundPhase, OpenRound (the durable part of an open round) and its codec:
// coordinator/records/open_round.h.

// One round's schedule: its sampled clients' tasks, who has answered, quorum and deadline.
class RoundSchedule {
 public:
  // A fresh training round started at `now_ms`: samples (SampleClients) and assigns task ids
  // MakeTaskId(round, attempt, true, i). Unavailable if fewer than min_fit are connected.
  static shared::Result<RoundSchedule> StartTraining(const RoundSettings& settings, uint64_t round,
                                                     uint64_t attempt,
                                                     std::vector<std::string> connected,
                                                     const std::vector<std::string>& favoured,
                                                     uint64_t now_ms);
  // A round stored by ToOpenRound() before a restart: its deadline continues, every task is
  // pending until Accept() (the engine accepts the stored updates again), resumed() is one
  // more. REQUIRES: open.phase != kIdle.
  static RoundSchedule Resume(const RoundSettings& settings, const OpenRound& open);

  // What to store so that a restart resumes this round.
  OpenRound ToOpenRound() const;

  uint64_t round() const { return round_; }
  uint64_t attempt() const { return attempt_; }
  bool training() const { return training_; }
  uint64_t deadline_ms() const { return deadline_ms_; }
  uint64_t started_ms() const { return started_ms_; }
  int rejected() const { return rejected_; }
  int resumed() const { return resumed_; }
  size_t accepted() const { return accepted_ids_.size(); }
  // Client -> task id offered / still expected.
  const std::map<std::string, uint64_t>& tasks() const { return tasks_; }
  const std::map<std::string, uint64_t>& pending() const { return pending_; }
  std::optional<uint64_t> PendingTask(const std::string& client_id) const;
  // Every expected answer arrived (or was rejected).
  bool Answered() const { return pending_.empty(); }
  // Milliseconds to the training deadline at `now_ms` (0 once it passed).
  uint64_t MsLeft(uint64_t now_ms) const;

  // Updates. IsAccepted: `client_id`'s update `idempotency_id` was accepted in this round (a
  // resend is a duplicate, never folded twice; ids are per client, so one client's id never
  // names another's update). CheckTask: may `client_id` answer `task_id` of `round` now?
  // InvalidArgument if the round is not training or the task was not offered to it,
  // AlreadyExists if it answered already.
  bool IsAccepted(const std::string& client_id, const std::string& idempotency_id) const;
  shared::Status CheckTask(const std::string& client_id, uint64_t round, uint64_t task_id) const;
  // The client's update (or stored update, on resume) was accepted.
  void Accept(const std::string& client_id, const std::string& idempotency_id);
  // The client's update was rejected: counted, and it is no longer expected. Returns true if
  // that answered the last pending task.
  bool Reject(const std::string& client_id);
  // The client's open task `task_id` (training or evaluation) failed: it is no longer expected
  // (a training task counts as rejected). False if `task_id` is not the client's pending task.
  bool Fail(const std::string& client_id, uint64_t task_id);
  // An update of the client is being decoded or stored; the round does not close meanwhile.
  void BeginIngest(const std::string& client_id) { ingesting_.insert(client_id); }
  void EndIngest(const std::string& client_id) { ingesting_.erase(client_id); }
  bool Ingesting(const std::string& client_id) const { return ingesting_.count(client_id) > 0; }
  bool Drained() const { return ingesting_.empty(); }
  // After the deadline (or every answer): OK if at least min_fit updates were accepted, else
  // Unavailable (the attempt fails; the next samples again with attempt() + 1). Pending
  // clients left are stragglers: their later updates are refused (CheckTask).
  shared::Status CheckQuorum() const;

  // Evaluation. EndTraining: the round's model is made; no update is accepted any more.
  // StartEvaluation: offers go to the clients connected now (AddEvalTask for each); a client
  // connecting later joins (AddEvalTask). Disconnected: evaluation does not wait for it.
  void EndTraining() { training_ = false; }
  void StartEvaluation();
  bool evaluation_started() const { return evaluation_started_; }
  // The client's evaluation task id (a new one if it has none yet).
  uint64_t AddEvalTask(const std::string& client_id);
  // Returns true if the client owed an answer.
  bool Disconnected(const std::string& client_id);
  // An answer to an evaluation task (valid or not): the client is no longer expected.
  void Answer(const std::string& client_id) { pending_.erase(client_id); }

 private:
  RoundSchedule() = default;

  int min_fit_ = 1;
  uint64_t round_ = 0;
  uint64_t attempt_ = 0;
  bool training_ = true;
  bool evaluation_started_ = false;
  int resumed_ = 0;
  int rejected_ = 0;
  uint64_t deadline_ms_ = 0;
  uint64_t started_ms_ = 0;
  uint64_t next_eval_index_ = 0;
  std::map<std::string, uint64_t> pending_;
  std::map<std::string, uint64_t> tasks_;
  std::set<std::pair<std::string, std::string>> accepted_ids_;  // (client, idempotency id)
  std::set<std::string> ingesting_;
};

}  // namespace fedge::coordinator
