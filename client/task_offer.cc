// TaskFromOffer (client/trainer.h): reading a coordinator's TaskOffer, on its own so that the
// client-messages fuzz harness runs it without LibTorch.
#include <algorithm>

#include "client/trainer.h"
#include "shared/net/wire.h"

namespace fedge::client {

using shared::Result;
using shared::Status;

Result<TrainTask> TaskFromOffer(const wire::TaskOffer& o,
                                std::chrono::steady_clock::time_point now) {
  TrainTask task;
  task.task_id = o.task_id();
  task.round = o.round();
  task.train = o.kind() == wire::TaskKind::Train;
  task.model_version = o.model_version();
  FEDGE_ASSIGN_OR_RETURN(task.digest,
                         shared::DigestField(o.model_digest(), "TaskOffer.model_digest"));
  task.model_size = o.model_size();
  if (o.model_arch() == nullptr) return Status::InvalidArgument("TaskOffer without model_arch");
  task.arch = o.model_arch()->str();
  task.deadline = now + std::chrono::milliseconds(o.deadline_ms());
  task.codec = o.codec();
  task.topk_fraction = o.topk_fraction();
  const wire::TrainParams* p = o.train();
  if (p == nullptr) return task;
  task.options.epochs = static_cast<int>(std::clamp<uint32_t>(p->epochs(), 1, 1000));
  task.options.batch_size = static_cast<int>(std::clamp<uint32_t>(p->batch_size(), 1, 65536));
  task.options.learning_rate = p->learning_rate();
  task.options.momentum = p->momentum();
  task.options.seed = p->seed();
  task.focus_since_ms = p->focus_since_ms();
  task.focus_fraction = std::clamp(p->focus_fraction(), 0.0f, 0.95f);
  if (const wire::Augment* a = p->augment()) {
    ml::AugmentOptions& aug = task.options.augment;
    aug.hflip = a->hflip();
    aug.crop_pad = static_cast<int>(std::min<uint32_t>(a->crop_pad(), 1 << 16));
    aug.brightness = a->brightness();
    aug.contrast = a->contrast();
    aug.gamma = a->gamma();
    aug.blur_prob = a->blur_prob();
    aug.noise_std = a->noise_std();
  }
  return task;
}

}  // namespace fedge::client
