#include "common/dtype.h"
#include <gtest/gtest.h>
