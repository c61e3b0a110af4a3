#include "tools/synth/model_family.h"
#include <gtest/gtest.h>
