#include "common/chunker.h"
#include <gtest/gtest.h>
