#include "common/codec.h"
#include <gtest/gtest.h>
