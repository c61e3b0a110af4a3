#include "common/safetensors.h"
#include <gtest/gtest.h>
