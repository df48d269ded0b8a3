// misd/train.hpp -- Radius Aware Training and the training recipe (umbrella).
#pragma once

#include "misd/train/mixup.hpp"
#include "misd/train/random.hpp"
#include "misd/train/rat.hpp"
#include "misd/train/schedule.hpp"
#include "misd/train/sgd.hpp"
#include "misd/train/trainable.hpp"
#include "misd/train/trainer.hpp"
