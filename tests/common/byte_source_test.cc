#include "common/byte_source.h"
#include <gtest/gtest.h>
