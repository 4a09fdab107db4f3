#pragma once
// What a round asks each sampled site to do: how to train locally and how to encode the
// update it sends back. The one declaration of these settings and of their defaults: the
// coordinator's [rounds] (coordinator/config.h), fedge-sim's [training] (simulations/scenario.h)
// and the startup kits fedgectl provision writes (coordinator/kit_config.h) all hold one of
// these. Plain C++; the wire form is TrainParams in schemas/fedge.fbs.

#include <string>

#include "shared/ml/data/augment.h"

namespace fedge::ml {

struct TrainingSettings {
  int local_epochs = 1;
  int batch_size = 64;
  double learning_rate = 0.05;
  double momentum = 0.9;
  // Update encoding: fp32, fp16, int8, or topk_int8 (the topk_fraction largest differences to
  // the round's model, int8, with error feedback on the client).
  std::string codec = "fp32";
  double topk_fraction = 0.07;
  // Augmentation sites apply during local training ([augment]; off by default). Sites set
  // mean/stddev from the model's input normalisation.
  AugmentOptions augment;
};

}  // namespace fedge::ml
